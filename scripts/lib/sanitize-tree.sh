# Sourced by scripts/test (--sanitize) and scripts/fuzz: the one build tree both use.
#
# clang, AddressSanitizer + UndefinedBehaviorSanitizer (-fno-sanitize-recover) and
# libFuzzer's coverage on every library (GUESTKIT_FUZZ=ON), the tests too. The fuzz
# targets and the sanitized unit and integration tiers then share every object: built
# once, not twice (a gcc tree for the tests beside a clang tree for the fuzzers cost a
# cold CI machine about 11 minutes more). Warnings are not fatal here: the gcc release
# build (scripts/build) is the -Werror gate.
sanitize_build=${GUESTKIT_SANITIZE_BUILD_DIR:-build-sanitize}

# configure_sanitize_tree: configures $sanitize_build unless it is configured already.
configure_sanitize_tree() {
  [[ -f $sanitize_build/build.ninja ]] && return 0
  local launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  CC=clang CXX=clang++ cmake -S . -B "$sanitize_build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DGUESTKIT_FUZZ=ON -DGUESTKIT_WERROR=OFF "${launcher[@]}" >/dev/null
}
