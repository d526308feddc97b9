#!/usr/bin/env bash
# Every shipped service unit's exposure (systemd-analyze security --offline=true, the
# number systemd's and distributions' maintainers look at) is recorded in README.md's
# table, and no unit may get worse than recorded: loosening a unit's sandbox fails
# here until the README says so (and why, in the unit's comments).
#
# Usage: security_test.sh README UNIT_DIR
set -euo pipefail
readme=$1 units=$2
command -v systemd-analyze >/dev/null ||
  { echo "FAIL: systemd-analyze is not installed (scripts/setup installs systemd)"; exit 1; }
systemd-analyze security --help 2>/dev/null | grep -q -- '--offline' ||
  { echo "FAIL: this systemd-analyze has no --offline (systemd >= 250 needed)"; exit 1; }

fail=0
checked=0
for unit in "$units"/*.service; do
  name=$(basename "$unit")
  # "| `guestkit-disk@.service` | 4.3 | ..." in the README's table.
  recorded=$(sed -nE "s/^\| \`${name//./\\.}\` \| ([0-9]+\.[0-9]) \|.*/\1/p" "$readme")
  if [[ -z $recorded ]]; then
    echo "FAIL: $name has no exposure recorded in the README's table"
    fail=1
    continue
  fi
  out=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1) ||
    true  # it exits non-zero above --threshold (default 100): the score decides here
  score=$(sed -nE 's/.*Overall exposure level for [^:]*: ([0-9]+\.[0-9]).*/\1/p' <<<"$out")
  if [[ -z $score ]]; then
    echo "FAIL: $name: no score from systemd-analyze:"
    echo "$out" | tail -n 5
    fail=1
    continue
  fi
  checked=$((checked + 1))
  if awk -v s="$score" -v r="$recorded" 'BEGIN { exit !(s > r) }'; then
    echo "FAIL: $name exposure $score, worse than the README's $recorded"
    fail=1
  else
    echo "ok: $name $score (README: $recorded)"
  fi
done
((checked > 0)) || { echo "FAIL: no unit checked in $units"; exit 1; }
exit "$fail"
