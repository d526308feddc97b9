#!/usr/bin/env bash
# The boot stages' sysv scripts as sysvinit runs them (build/config/sysv/guestkit-STAGE,
# configured): `start` runs guestkit-boot STAGE; with no syslog daemon listening on
# /dev/log (rcS, before rsyslog, or an image without one) it adds --log-stderr, since
# syslog(3) would drop every line; a partial run (exit 1) does not fail the boot, a
# failed one (2) does. guestkit-boot is replaced by a recorder of its arguments; each
# case runs in a private mount namespace whose /dev is a tmpfs (the host's /dev/log is
# never touched).
#
#   sysv_scripts_test.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: sysv_scripts_test.sh BUILD_DIR}
if [[ $(id -u) != 0 ]] || ! command -v unshare >/dev/null; then
  echo "SKIPPED: needs root and unshare (a private mount namespace for /dev/log)"
  exit 77
fi
[[ -f /lib/lsb/init-functions ]] || { echo "FAIL: /lib/lsb/init-functions missing (sysvinit-utils)"; exit 1; }
tmp=$(mktemp -d /tmp/guestkit-test.sysv.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0

cat >"$tmp/guestkit-boot" <<'FAKE'
#!/bin/sh
# Records its arguments; exits with $FAKE_EXIT.
echo "$*" >>"$FAKE_LOG"
exit "${FAKE_EXIT:-0}"
FAKE
chmod 0755 "$tmp/guestkit-boot"

# run STAGE SYSLOG(yes|no) EXIT: the script's exit status; its arguments in $tmp/args.
run() {
  local stage=$1 syslog=$2 code=$3 script=$tmp/guestkit-$1
  sed "s|^BOOT=.*|BOOT=$tmp/guestkit-boot|" "$build/config/sysv/guestkit-$stage" >"$script"
  chmod 0755 "$script"
  : >"$tmp/args"
  FAKE_LOG=$tmp/args FAKE_EXIT=$code unshare --mount --propagation private sh -c '
    mount -t tmpfs guestkit-test /dev && mknod -m 0666 /dev/null c 1 3 || exit 99
    if [ "$1" = yes ]; then
      python3 -c "import socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).bind(\"/dev/log\")" || exit 99
    fi
    exec "$2" start </dev/null >/dev/null 2>&1' sh "$syslog" "$script"
}

for stage in bootstrap mount config postboot; do
  [[ -f $build/config/sysv/guestkit-$stage ]] || { echo "FAIL: no $build/config/sysv/guestkit-$stage"; fail=1; continue; }
  status=0
  run "$stage" no 0 || status=$?
  args=$(cat "$tmp/args")
  [[ $status == 0 && $args == "--log-stderr $stage" ]] ||
    { echo "FAIL: $stage without syslog: exit $status, guestkit-boot got '$args' (want '--log-stderr $stage')"; fail=1; }
  status=0
  run "$stage" yes 0 || status=$?
  args=$(cat "$tmp/args")
  [[ $status == 0 && $args == "$stage" ]] ||
    { echo "FAIL: $stage with syslog on /dev/log: exit $status, guestkit-boot got '$args' (want '$stage')"; fail=1; }
  status=0
  run "$stage" yes 1 || status=$?
  [[ $status == 0 ]] || { echo "FAIL: $stage: a partial run (1) failed the script with $status"; fail=1; }
  status=0
  run "$stage" yes 2 || status=$?
  [[ $status == 2 ]] || { echo "FAIL: $stage: a failed run (2) gave the script exit $status, not 2"; fail=1; }
done
# The stages in runlevel 2 come after the syslog daemon when there is one, so their
# lines land in its files rather than on the console.
for stage in mount config; do
  grep -q '^# Should-Start:.*[[:space:]]\$syslog\([[:space:]]\|$\)' "$build/config/sysv/guestkit-$stage" ||
    { echo "FAIL: guestkit-$stage is not ordered after \$syslog (Should-Start)"; fail=1; }
done
[[ $fail == 0 ]] && echo "sysv scripts: 4 stages x 4 cases ok"
exit "$fail"
