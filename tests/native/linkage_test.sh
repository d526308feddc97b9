#!/usr/bin/env bash
# What every guestkit binary loads when it starts (its DT_NEEDED libraries and
# theirs): udev starts a helper per event and systemd runs guestkit-boot per stage, so
# a library loaded at start is paid at every event and every boot stage.
#   * libarchive is opened with dlopen when a seed is read (plugins/seed/libarchive.hpp):
#     loaded at start, it brings libxml2 and ICU (4.3 M instructions of the dynamic
#     loader per start, measured with valgrind).
#   * With GUESTKIT_STATIC_CXX (STATIC=ON), no shared libstdc++: the binaries carry
#     their own, and two copies in one process would be worse than slow (CMakeLists.txt).
#
# Usage: linkage_test.sh STATIC(ON|OFF) PROGRAM...
set -euo pipefail
static=$1
shift
fail=0
for program in "$@"; do
  [[ -x $program ]] || { echo "FAIL: $program: not built"; fail=1; continue; }
  # ldd lists the whole tree a start loads; the binary is not run (ldd uses the loader's
  # trace mode), but only our own build's binaries are given here.
  libs=$(ldd "$program" | awk '{print $1}')
  [[ -n $libs ]] || { echo "FAIL: $program: ldd listed nothing"; fail=1; continue; }
  for lib in libarchive libxml2 libicuuc; do
    if grep -q "^$lib\.so" <<<"$libs"; then
      echo "FAIL: $(basename "$program") loads $lib at start (plugins/seed/libarchive.hpp)"
      fail=1
    fi
  done
  if [[ $static == ON ]] && grep -q '^libstdc++\.so' <<<"$libs"; then
    echo "FAIL: $(basename "$program") loads the shared libstdc++ at start (GUESTKIT_STATIC_CXX)"
    fail=1
  fi
done
((fail == 0)) && echo "ok: $# binaries, none loads libarchive, libxml2 or ICU at start"
exit "$fail"
