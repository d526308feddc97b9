#!/usr/bin/env bash
# The .debs install into a minimal Debian chroot the way an image builder installs
# them, start nothing, register what they should, and purge without leftovers.
#
# Usage: chroot_test.sh SOURCE_DIR
#
# The .debs are SOURCE_DIR/dist's (scripts/package deb). When they are missing or
# older than the last commit, the test builds them first with scripts/package deb
# (about 10 minutes on 2 cores); GUESTKIT_TEST_NO_PACKAGE_BUILD=1 makes that a skip.
#
# The chroot is a bookworm minbase made by mmdebstrap with the packages' run-time
# dependencies (read from the .debs) plus openbsd-inetd and systemd-sysv, cached as
# a tarball under ${GUESTKIT_TEST_CACHE:-/var/cache/guestkit-test}, keyed by that
# package list: only the first run downloads (from the Debian archive), later ones
# unpack it in seconds. No mounts: dpkg and the maintainer scripts need none.
#
# Two rounds:
#  1. image build with an inetd: no /run/systemd/system, no policy-rc.d. Files,
#     conffiles, units enabled, the inetd.conf line, nothing started; remove
#     disables the line, purge removes it and everything else.
#  2. no inetd, a "running" systemd (/run/systemd/system) whose policy-rc.d
#     forbids starts: the agent's socket is enabled instead, still nothing started;
#     purge leaves nothing.
# "Nothing started" is checked by spies in place of systemctl, invoke-rc.d and
# start-stop-daemon that record every call.
#
# Exit 77 (skip, with the reason) when a prerequisite is missing.
set -euo pipefail

# shellcheck source=chroot_lib.sh
. "$(dirname "$0")/chroot_lib.sh"
chroot_setup "${1:?usage: chroot_test.sh SOURCE_DIR}" /tmp/guestkit-test

fail=0
bad() { echo "FAIL: $*"; fail=1; }
in_root() { chroot "$root" "$@"; }

# Spies record every call to systemctl, invoke-rc.d and start-stop-daemon, then run
# the real tool (deb-systemd-helper enables units with `systemctl --root=/ preset`).
# A start asked of systemctl or start-stop-daemon is a failure, and so is any
# process running inside the chroot afterwards. invoke-rc.d is only recorded: it is
# the policy layer (policy-rc.d, runlevel), update-inetd calls it to wake inetd.
spy_log=/tmp/spy.log
for tool in /usr/bin/systemctl /usr/sbin/invoke-rc.d /usr/sbin/start-stop-daemon; do
  [[ -e $root$tool ]] || continue
  mv "$root$tool" "$root$tool.real"
  printf '#!/bin/sh\necho "%s $*" >>%s\nexec %s.real "$@"\n' "${tool##*/}" "$spy_log" "$tool" >"$root$tool"
  chmod 0755 "$root$tool"
done
: >"$root$spy_log"
in_chroot_pids() {
  local p
  for p in /proc/[0-9]*; do
    [[ $(readlink "$p/root" 2>/dev/null) == "$root" ]] && echo "${p#/proc/}"
  done
  return 0
}
no_starts() {
  local started pids
  started=$(grep -E '^(systemctl .*[[:space:]](start|restart|try-restart|reload-or-restart|try-reload-or-restart)([[:space:]]|$)|start-stop-daemon .*(--start|-S))' \
    "$root$spy_log" || true)
  [[ -z $started ]] || bad "$1: services were started: $started"
  pids=$(in_chroot_pids)
  if [[ -n $pids ]]; then
    bad "$1: processes run in the chroot: $(ps -o pid=,args= -p "${pids//$'\n'/,}" || true)"
    kill -9 $pids 2>/dev/null || true
  fi
}

# Everything but dpkg's own database, logs and caches, with a checksum for /etc.
snapshot() {
  (cd "$root" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./run -o -path ./tmp \
      -o -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache -o -path ./var/lib/apt \) -prune \
      -o -printf '%y %p\n' | sort
   find ./etc -xdev -type f -exec md5sum {} + | sort -k2)
}
leftovers() {  # $1: snapshot before the install
  local after
  after=$(snapshot)
  diff <(echo "$1") <(echo "$after") | grep '^[<>]' || true
}

dpkg_in() { in_root dpkg "$@" >>"$work/dpkg.log" 2>&1 || { tail -n 30 "$work/dpkg.log"; return 1; }; }
cp "$gk_deb" "$agent_deb" "$root/tmp/"
gk=/tmp/${gk_deb##*/} agent=/tmp/${agent_deb##*/}
rm -rf "$root/run/systemd/system" "$root/usr/sbin/policy-rc.d"

check_common() {  # the guestkit package as installed
  local f
  for f in /usr/sbin/guestkit-boot /usr/sbin/guestkit-disk /usr/sbin/guestkit-iface /usr/sbin/guestkit-dhcp \
           /usr/sbin/guestkit-cpu /usr/sbin/guestkit-memory /etc/guestkit/guestkit.yml \
           /lib/udev/rules.d/86-guestkit-disk.rules /lib/udev/rules.d/87-guestkit-iface.rules \
           /lib/udev/rules.d/85-guestkit-cpu-memory.rules /lib/systemd/system/guestkit-disk@.service \
           /etc/guestkit/hooks/post-disk-attach.example /usr/sbin/guestkit-agent /usr/bin/guestkit-ctl \
           /etc/guestkit/agent.yml /etc/xinetd.d/guestkit-agent /lib/systemd/system/guestkit-agent.socket; do
    [[ -e $root$f ]] || bad "not installed: $f"
  done
  # The binaries run in a bare system (their shared libraries are in Depends) and
  # accept the shipped configuration.
  in_root /usr/sbin/guestkit-boot --version >/dev/null || bad "guestkit-boot does not run in the chroot"
  in_root /usr/sbin/guestkit-boot --list config >/dev/null 2>&1 ||
    bad "guestkit-boot --list config fails with the shipped configuration"
  # Every file the packages put in /etc is a conffile.
  local pkg conffiles
  for pkg in guestkit guestkit-agent; do
    conffiles=$(in_root dpkg-query -W -f='${Conffiles}\n' "$pkg" | awk 'NF { print $1 }')
    while read -r f; do
      [[ -f $root$f && ! -L $root$f ]] || continue
      grep -qxF "$f" <<<"$conffiles" || bad "$pkg: $f is not a conffile"
    done < <(in_root dpkg -L "$pkg" | grep '^/etc/')
  done
  # The boot stages are enabled (for the next boot), by systemd and sysv alike.
  local wants unit
  for wants in sysinit.target.wants/guestkit-bootstrap.service multi-user.target.wants/guestkit-mount.service \
               multi-user.target.wants/guestkit-config.service multi-user.target.wants/guestkit-config-ssh.service multi-user.target.wants/guestkit-postboot.service; do
    [[ -L $root/etc/systemd/system/$wants ]] || bad "not enabled: $wants"
  done
  for unit in "$root"/etc/init.d/guestkit-*; do
    [[ -e $unit ]] || continue
    compgen -G "$root/etc/rc[S2].d/S*${unit##*/}" >/dev/null || bad "no rc link for /etc/init.d/${unit##*/}"
  done
}

echo "== round 1: image build with openbsd-inetd, no systemd running, no policy-rc.d"
before=$(snapshot)
dpkg_in -i "$gk" "$agent" || bad "dpkg -i failed"
check_common
no_starts "install"
line=$(grep -E '^[^#[:space:]][^[:space:]]*[[:space:]].*[[:space:]]/usr/sbin/guestkit-agent([[:space:]]|$)' \
  "$root/etc/inetd.conf" || true)
if [[ -z $line ]]; then
  bad "no enabled guestkit-agent line in /etc/inetd.conf"
else
  service=${line%%[[:space:]]*}
  [[ $service =~ ^[0-9]+$ ]] || in_root getent services "$service/tcp" >/dev/null ||
    bad "inetd.conf service '$service' is neither a port number nor in /etc/services: inetd cannot listen for it"
fi
[[ ! -e $root/etc/systemd/system/sockets.target.wants/guestkit-agent.socket ]] ||
  bad "guestkit-agent.socket enabled although inetd serves the agent (two listeners on one port)"
dpkg_in -r guestkit-agent || bad "dpkg -r guestkit-agent failed"
grep -qE '^#<off># [^[:space:]]+[[:space:]].*/usr/sbin/guestkit-agent' "$root/etc/inetd.conf" ||
  bad "remove did not disable the inetd.conf line"
dpkg_in --purge guestkit-agent guestkit || bad "dpkg --purge failed"
! grep -q '/usr/sbin/guestkit-agent' "$root/etc/inetd.conf" || bad "purge left the inetd.conf line"
no_starts "remove and purge"
left=$(leftovers "$before")
[[ -z $left ]] || bad "purge left this behind:"$'\n'"$left"

echo "== round 2: no inetd, systemd \"running\", policy-rc.d forbids starts"
dpkg_in --purge openbsd-inetd update-inetd || bad "cannot purge openbsd-inetd from the chroot"
: >"$root$spy_log"
mkdir -p "$root/run/systemd/system"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
before=$(snapshot)
dpkg_in -i "$gk" "$agent" || bad "dpkg -i failed (round 2)"
check_common
[[ -L $root/etc/systemd/system/sockets.target.wants/guestkit-agent.socket ]] ||
  bad "guestkit-agent.socket not enabled on a system without inetd"
no_starts "install under policy-rc.d"
dpkg_in --purge guestkit-agent guestkit || bad "dpkg --purge failed (round 2)"
left=$(leftovers "$before")
[[ -z $left ]] || bad "purge left this behind (round 2):"$'\n'"$left"

if [[ $fail != 0 ]]; then
  echo "--- spy log"; cat "$root$spy_log"
  exit 1
fi
echo "packages install, start nothing and purge cleanly in a $suite chroot"
