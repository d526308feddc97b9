#!/usr/bin/env bash
# The version comes from one place, CMake's project(guestkit VERSION x.y.z); the
# Debian changelog's top entry (upstream part) and the RPM spec's Version: agree.
# Usage: version_test.sh SOURCE_DIR
set -euo pipefail
src=${1:?usage: version_test.sh SOURCE_DIR}

cmake_version=$(sed -n 's/^project(guestkit VERSION \([0-9][0-9.]*\)[ )].*/\1/p' "$src/CMakeLists.txt")
# The first line of debian/changelog: "guestkit (VERSION) DIST; urgency=...".
# The upstream version is VERSION without an epoch or a Debian revision.
deb_version=$(sed -n '1s/^guestkit (\([^)]*\)).*/\1/p' "$src/debian/changelog")
deb_upstream=${deb_version#*:}
deb_upstream=${deb_upstream%-*}
rpm_version=$(sed -n 's/^Version:[[:space:]]*\([^[:space:]]*\).*/\1/p' "$src/rpm/guestkit.spec")

fail=0
[[ -n $cmake_version ]] || { echo "no project(guestkit VERSION ...) in CMakeLists.txt"; fail=1; }
[[ -n $deb_version ]] || { echo "debian/changelog does not start with a guestkit entry"; fail=1; }
[[ -n $rpm_version ]] || { echo "no Version: in rpm/guestkit.spec"; fail=1; }
if [[ $fail == 0 && $deb_upstream != "$cmake_version" ]]; then
  echo "debian/changelog says $deb_version, CMakeLists.txt says $cmake_version"; fail=1
fi
if [[ $fail == 0 && $rpm_version != "$cmake_version" ]]; then
  echo "rpm/guestkit.spec says $rpm_version, CMakeLists.txt says $cmake_version"; fail=1
fi
[[ $fail == 0 ]] && echo "versions agree: $cmake_version (debian $deb_version, rpm $rpm_version)"
exit $fail
