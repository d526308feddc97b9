# Sourced by the chroot tests (chroot_test.sh, upgrade_test.sh): the .debs of this
# tree and a bookworm chroot to install them in, the same for both.
#
#   chroot_setup SOURCE_DIR WORK_PREFIX
#
# Skips (exit 77, "SKIPPED: reason") without root or mmdebstrap. Builds the .debs
# with scripts/package deb when SOURCE_DIR/dist has none of this version newer than the
# last commit (about 10 minutes on 2 cores; GUESTKIT_TEST_NO_PACKAGE_BUILD=1 makes that
# a skip). The chroot is a minbase made by mmdebstrap with the packages' run-time
# dependencies (read from the .debs: the first alternative of each, without versions)
# plus init-system-helpers, openbsd-inetd and systemd-sysv, cached as a tarball under
# ${GUESTKIT_TEST_CACHE:-/var/cache/guestkit-test}, keyed by that list: only the first
# run downloads (from the Debian archive). No mounts: dpkg and the maintainer scripts
# need none.
#
# Sets: src, version, gk_deb, agent_deb, work (a temp dir, WORK_PREFIX.XXXXXX, removed
# on exit with every process left in the chroot killed by pid), root ($work/root,
# unpacked), suite. Defines skip.

skip() { echo "SKIPPED: $*"; exit 77; }

chroot_setup() {
  src=$(realpath "${1:?chroot_setup SOURCE_DIR WORK_PREFIX}")
  local work_prefix=${2:?chroot_setup SOURCE_DIR WORK_PREFIX}
  local deb_dir=$src/dist mirror=http://deb.debian.org/debian
  local cache=${GUESTKIT_TEST_CACHE:-/var/cache/guestkit-test}
  suite=bookworm
  [[ $(id -u) == 0 ]] || skip "needs root (chroot, dpkg)"
  command -v mmdebstrap >/dev/null || skip "mmdebstrap is not installed (scripts/setup installs it)"
  version=$(sed -n 's/^project(guestkit VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
  if ! chroot_debs_current "$deb_dir"; then
    [[ ${GUESTKIT_TEST_NO_PACKAGE_BUILD:-0} == 1 ]] &&
      skip "no current .debs in $deb_dir and GUESTKIT_TEST_NO_PACKAGE_BUILD=1 (run scripts/package deb)"
    echo "building the .debs: scripts/package deb"
    "$src/scripts/package" deb >/dev/null 2>&1 || true
    chroot_debs_current "$deb_dir" ||
      { echo "FAIL: scripts/package deb did not produce current .debs in $deb_dir"; exit 1; }
  fi
  local debs agent_debs
  shopt -s nullglob
  debs=("$deb_dir"/guestkit_${version}_*.deb)
  agent_debs=("$deb_dir"/guestkit-agent_${version}_*.deb)
  shopt -u nullglob
  ((${#debs[@]} == 1 && ${#agent_debs[@]} == 1)) ||
    { echo "FAIL: not one guestkit and one guestkit-agent $version .deb in $deb_dir"; exit 1; }
  gk_deb=$(realpath "${debs[0]}")
  agent_deb=$(realpath "${agent_debs[0]}")
  dpkg-deb -c "$agent_deb" | grep '/usr/sbin/guestkit-agent$' >/dev/null ||
    skip "$agent_deb has no agent yet (built before the agent landed in the tree)"

  local deps packages key tarball
  deps=$(for d in "$gk_deb" "$agent_deb"; do dpkg-deb -f "$d" Pre-Depends Depends; done |
    sed -e 's/^[A-Za-z-]*: //' | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/[[:space:]]//g' |
    grep -v -e '^$' -e '^guestkit' | sort -u)
  packages=$(printf '%s\n' $deps init-system-helpers openbsd-inetd systemd-sysv | sort -u | paste -sd, -)
  key=$(printf '%s %s minbase %s %s' "$suite" "$mirror" "$packages" "$(dpkg-query -W -f='${Version}' mmdebstrap)" |
    sha256sum | cut -c1-16)
  tarball=$cache/chroot-$suite-$key.tar

  work=$(mktemp -d "$work_prefix.XXXXXX")
  root=$work/root
  trap chroot_cleanup EXIT
  if [[ ! -f $tarball ]]; then
    mkdir -p "$cache"
    echo "making the $suite chroot (cached as $tarball): $packages"
    if ! mmdebstrap --quiet --variant=minbase --include="$packages" "$suite" "$work/new.tar" "$mirror" \
         </dev/null >"$work/mmdebstrap.log" 2>&1; then
      tail -n 20 "$work/mmdebstrap.log"
      # Without the archive there is no chroot to test in: a named skip, not a pass.
      grep -qiE 'could not resolve|failed to fetch|temporary failure|network is unreachable|connection (refused|timed out)' \
        "$work/mmdebstrap.log" && skip "mmdebstrap cannot reach $mirror"
      echo "FAIL: mmdebstrap failed (log above)"
      exit 1
    fi
    mv "$work/new.tar" "$tarball"
  fi
  mkdir "$root"
  tar -x -C "$root" -f "$tarball"
}

# The .debs of this version exist and are newer than the last commit.
chroot_debs_current() {
  local deb newest
  newest=$(git -C "$src" log -1 --format=%ct 2>/dev/null || echo 0)
  for deb in "$1/guestkit_${version}_"*.deb "$1/guestkit-agent_${version}_"*.deb; do
    [[ -f $deb ]] && (($(stat -c %Y "$deb") >= newest)) || return 1
  done
}

chroot_cleanup() {
  local p
  for p in /proc/[0-9]*; do
    [[ -n ${root:-} && $(readlink "$p/root" 2>/dev/null) == "$root" ]] && kill -9 "${p#/proc/}" 2>/dev/null
  done
  rm -rf "$work"
}
