#!/usr/bin/env bash
# guestkit's .debs installed over gandi-hosting-vm2 (issue 20), in the cached chroot
# of chroot_test.sh: the old package is tests/packaging/gandi-fixture (same names,
# conffiles and maintainer-script behaviour), built here with dpkg-deb.
#
# Usage: upgrade_test.sh SOURCE_DIR
#
# Rounds:
#  0. the fixture shows the problem: after a plain removal its udev rule is still in
#     /etc/udev/rules.d and a kernel install hook run fails (calls a deleted program).
#  1. old package installed and customised (/etc/default/gandi flags, a hook without
#     #!, a plugin in /etc/gandi/plugins.d), then `dpkg -i` of guestkit: every flag
#     has its effect (--list states, --dry-run output, the iface and disk decisions
#     on a fake sysfs), the hook and the plugin run, nothing of the old package is
#     left to act (the udev rules and kernel hooks are checked as files and by a
#     run-parts of /etc/kernel/postinst.d: no udevd or /sys in a chroot), and the old
#     package is left in state rc (installed with apt-get, as image maintainers do).
#  2. purge of the old package: the customer's settings and hooks keep working.
#  3. purge of guestkit: nothing left but the customer's own files.
#  4. sysvinit (no systemctl): the old prerm stops the upgrade ("systemctl: not
#     found"); the README's workaround lets it through (with dpkg -i, which leaves
#     the old package selected, state ic, until the README's --set-selections).
# The .debs are dist/'s, built as chroot_test.sh does when missing or stale.
# Exit 77 (skip, with the reason) when a prerequisite is missing.
set -euo pipefail

# shellcheck source=chroot_lib.sh
. "$(dirname "$0")/chroot_lib.sh"
chroot_setup "${1:?usage: upgrade_test.sh SOURCE_DIR}" /tmp/guestkit-upgrade

# The old package, from the fixture (modes as in git, owned by root).
cp -a "$src/tests/packaging/gandi-fixture" "$work/fixture"
rm -f "$work/fixture/README"
chmod -R go-w "$work/fixture"
dpkg-deb --root-owner-group -Zgzip --build "$work/fixture" "$root/tmp/gandi-hosting-vm2_2.43_all.deb" >/dev/null
cp "$gk_deb" "$agent_deb" "$root/tmp/"
old=/tmp/gandi-hosting-vm2_2.43_all.deb gk=/tmp/${gk_deb##*/} agent=/tmp/${agent_deb##*/}

fail=0
bad() { echo "FAIL: $*"; fail=1; }
ok() { echo "  ok: $*"; }
# guestkit runs a checked program as /proc/self/fd/N, as on every real system: the
# chroot gets /proc, mounted in a private mount namespace that ends with the command.
in_root() {
  unshare --mount --propagation private -- sh -c 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' \
    "$root" "$@"
}
dpkg_in() { in_root dpkg "$@" >>"$work/dpkg.log" 2>&1 || { tail -n 30 "$work/dpkg.log"; return 1; }; }
status_of() { in_root dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | tr -d ' ' || true; }
snapshot() {
  (cd "$root" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./run -o -path ./tmp \
      -o -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache -o -path ./var/lib/apt \) -prune \
      -o -printf '%y %p\n' | sort
   find ./etc -xdev -type f -exec md5sum {} + | sort -k2)
}
kernel_hooks() {  # what a kernel package's postinst runs
  in_root run-parts --report --exit-on-error --arg=6.1.0-99-amd64 --arg=/boot/vmlinuz-6.1.0-99-amd64 \
    /etc/kernel/postinst.d >>"$work/kernel.log" 2>&1
}
acting_leftovers() {  # what of the old package could still run, one per line
  (cd "$root" && {
    ls -d etc/udev/rules.d/86-gandi.rules etc/kernel/postinst.d/gandi-* etc/init.d/gandi-* etc/gandi/*.sh \
      etc/gandi/*.py etc/auto.master.d/gandi.autofs 2>/dev/null
    grep -rl '/etc/gandi' etc/udev lib/udev/rules.d 2>/dev/null
    find etc/systemd lib/systemd etc/rc?.d -name '*gandi*' 2>/dev/null
  } | sort -u)
}

echo "== round 0: the fixture reproduces the problem (a plain removal)"
dpkg_in -i "$old" || bad "the old package does not install"
[[ -L $root/lib/systemd/system/gandi-config.service ]] || bad "the fixture's postinst made no unit links"
kernel_hooks || bad "kernel hooks fail with the old package installed"
dpkg_in -r gandi-hosting-vm2 || bad "the old package does not remove"
[[ -n $(acting_leftovers) ]] || bad "the fixture leaves nothing that acts: the test could not fail"
if kernel_hooks; then bad "a kernel hook run succeeds after a plain removal: the test could not fail"; else
  ok "after a plain removal the old kernel hook fails: $(tail -n 1 "$work/kernel.log")"; fi
dpkg_in --purge gandi-hosting-vm2 || bad "the old package does not purge"
find "$root/lib/systemd" "$root/etc/systemd" -name 'gandi-*' -delete
rm -rf "$root/var/gandi"
before=$(snapshot)

echo "== round 1: guestkit over the customised old package"
dpkg_in -i "$old" || bad "the old package does not install (round 1)"
sed -i -e 's/^CONFIG_MOTD=.*/CONFIG_MOTD=0/' -e 's/^CONFIG_TIMEZONE=.*/CONFIG_TIMEZONE=0/' \
  -e 's/^CONFIG_CRON=.*/CONFIG_CRON=0/' -e 's/^CONFIG_NODHCP=.*/CONFIG_NODHCP="eth1"/' \
  -e 's/^CONFIG_MOUNT_PARAMS=.*/CONFIG_MOUNT_PARAMS="rw,nosuid,nodev,noexec,noatime"/' \
  -e 's/^CONFIG_ALLOW_MOUNT=.*/CONFIG_ALLOW_MOUNT=0/' "$root/etc/default/gandi"
# The customer's hook, edited from the template (no #! line, as the template).
printf 'echo "post-vm-config ran $*" >>/var/log/customer.log\n' >>"$root/etc/gandi/hooks/post-vm-config"
printf '#!/bin/sh\necho "50-customer ran" >>/var/log/customer.log\n' >"$root/etc/gandi/plugins.d/50-customer"
chmod 0750 "$root/etc/gandi/plugins.d/50-customer"
cp "$root/etc/default/gandi" "$work/customer-gandi"

# As the issue's image maintainer did: apt, offline (every dependency is in the chroot).
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$gk" "$agent" >>"$work/apt.log" 2>&1 ||
  { tail -n 30 "$work/apt.log"; bad "apt-get install of guestkit over the old package failed"; }
st=$(status_of gandi-hosting-vm2)
[[ $st == rc ]] && ok "gandi-hosting-vm2 is in state rc" || bad "gandi-hosting-vm2 is in state '$st', not rc"
left=$(acting_leftovers)
[[ -z $left ]] && ok "nothing of the old package left to act" || bad "the old package's files still act:"$'\n'"$left"
: >"$work/kernel.log"
kernel_hooks && ok "a kernel install's postinst.d hooks succeed" ||
  bad "kernel install hooks fail: $(tail -n 3 "$work/kernel.log")"
cmp -s "$root/etc/default/gandi" "$root/etc/guestkit/legacy/gandi" && ok "/etc/default/gandi copied" ||
  bad "/etc/default/gandi not copied to /etc/guestkit/legacy/gandi"
[[ -f $root/etc/guestkit/legacy/disabled/etc/udev/rules.d/86-gandi.rules ]] ||
  bad "86-gandi.rules not kept under /etc/guestkit/legacy/disabled"

list=$(in_root guestkit-boot --list config 2>&1) || bad "guestkit-boot --list config failed: $list"
echo "$list" | sed 's/^/    /'
for p in 13-set-motd 07-set-timezone 03-randomize-cron; do
  grep -qE "^  $p +built-in +disabled .*switched off in config" <<<"$list" && ok "$p disabled by its flag" ||
    bad "--list does not show $p disabled"
done
grep -qE '^  11-config-ssh +built-in +enabled' <<<"$list" || bad "--list: 11-config-ssh is not enabled"
grep -qE '^  50-customer +legacy +enabled' <<<"$list" && ok "50-customer listed (legacy, enabled)" ||
  bad "--list does not show /etc/gandi/plugins.d/50-customer enabled"
dry=$(in_root guestkit-boot --dry-run --only 13-set-motd,50-customer,99-hook-vm-config config 2>&1) || true
grep -q 'would run /bin/sh /etc/gandi/hooks/post-vm-config' <<<"$dry" &&
  grep -q 'would run /etc/gandi/plugins.d/50-customer' <<<"$dry" && ! grep -q 'would .*motd' <<<"$dry" &&
  ok "--dry-run: hook through /bin/sh, 50-customer, no motd" || bad "--dry-run config says: $dry"

in_root guestkit-boot --only 50-customer,99-hook-vm-config config >"$work/boot.log" 2>&1 ||
  bad "guestkit-boot config (hook and plugin) failed: $(cat "$work/boot.log")"
grep -qx '50-customer ran' "$root/var/log/customer.log" 2>/dev/null && grep -qx 'post-vm-config ran ' "$root/var/log/customer.log" &&
  ok "the customer's plugin and hook ran" || bad "customer plugin/hook did not run: $(cat "$root/var/log/customer.log" 2>&1)"

# The iface and disk decisions, on a fake sysfs (the chroot has no /sys mounted), in
# a network namespace of their own (dry runs, but nothing may even look at the host's).
mkdir -p "$root/sys/devices/pci0000:00/virtio1/net" "$root/sys/devices/pci0000:00/virtio2/net"
for i in 1 2; do
  n=eth$((i - 1))
  mkdir -p "$root/sys/class/net/$n"
  echo 1 >"$root/sys/class/net/$n/type"
  echo $((i + 1)) >"$root/sys/class/net/$n/ifindex"
  ln -s "/sys/devices/pci0000:00/virtio$i" "$root/sys/class/net/$n/device"
done
ifout=$(unshare --net chroot "$root" guestkit-iface --dry-run --log-stderr add eth1 2>&1) || true
grep -q 'eth1: left without DHCP (iface.no_dhcp)' <<<"$ifout" && ok "eth1: no DHCP (CONFIG_NODHCP)" ||
  bad "guestkit-iface add eth1 does not leave it without DHCP: $ifout"
ifout0=$(unshare --net chroot "$root" guestkit-iface --dry-run --log-stderr add eth0 2>&1) || true
# eth0 is not in CONFIG_NODHCP: DHCP is attempted (and fails: no client in a minbase).
grep -qE '20-dhcp-iface: (warning: )?(changed|unchanged|failed|ran)' <<<"$ifout0" &&
  ! grep -q 'left without DHCP' <<<"$ifout0" && ok "eth0: DHCP" || bad "eth0 is not given DHCP: $ifout0"
rm -rf "${root:?}/sys/"*
diskout=$(unshare --net chroot "$root" guestkit-disk --dry-run --log-stderr add vdb 2>&1) || true
grep -q '10-mount-disk: disabled' <<<"$diskout" || grep -q '1 disabled' <<<"$diskout" &&
  ok "guestkit-disk add: mounting switched off (CONFIG_ALLOW_MOUNT=0)" || bad "guestkit-disk add vdb: $diskout"

echo "== round 2: purge of the old package"
rm -f "$root/var/log/customer.log"
dpkg_in --purge gandi-hosting-vm2 || bad "purge of the old package failed"
[[ ! -e $root/etc/default/gandi ]] || bad "the purge kept /etc/default/gandi (the fixture is wrong)"
cmp -s "$work/customer-gandi" "$root/etc/guestkit/legacy/gandi" && ok "the customer's flags survive in /etc/guestkit/legacy/gandi" ||
  bad "/etc/guestkit/legacy/gandi lost"
list=$(in_root guestkit-boot --list config 2>&1) || bad "guestkit-boot --list config failed after the purge"
grep -qE '^  13-set-motd +built-in +disabled' <<<"$list" && ok "CONFIG_MOTD=0 still in effect" ||
  bad "after the purge 13-set-motd is not disabled: $list"
in_root guestkit-boot --only 50-customer,99-hook-vm-config config >"$work/boot.log" 2>&1 ||
  bad "guestkit-boot config failed after the purge: $(cat "$work/boot.log")"
grep -qx 'post-vm-config ran ' "$root/var/log/customer.log" 2>/dev/null && ok "the hook runs from guestkit's copy" ||
  bad "the customer's hook did not run after the purge"

echo "== round 3: purge of guestkit"
dpkg_in --purge guestkit-agent guestkit || bad "purge of guestkit failed"
after=$(snapshot)
# The customer's own plugin (never the old package's) stays, with its directories,
# and /var/gandi the old postinst made.
left=$(diff <(echo "$before") <(echo "$after") | grep '^[<>]' |
  grep -vE '^> (d \./etc/gandi|d \./etc/gandi/plugins\.d|f \./etc/gandi/plugins\.d/50-customer|[0-9a-f]{32}  \./etc/gandi/plugins\.d/50-customer|d \./var/gandi)$' || true)
[[ -z $left ]] && ok "the chroot is clean but for the customer's own plugin" || bad "left behind:"$'\n'"$left"
rm -rf "$root/etc/gandi" "$root/var/gandi"

echo "== round 4: sysvinit (no systemctl)"
mv "$root/usr/bin/systemctl" "$root/usr/bin/systemctl.away"
dpkg_in -i "$old" || bad "the old package does not install without systemctl"
if in_root dpkg -i "$gk" >"$work/sysv.log" 2>&1; then
  bad "guestkit installed although the old prerm needs systemctl (the fixture is wrong)"
else
  grep -q 'systemctl: not found' "$work/sysv.log" && ok "the old prerm stops the upgrade: systemctl: not found" ||
    bad "the upgrade failed otherwise: $(tail -n 5 "$work/sysv.log")"
fi
# README, "Replacing gandi-hosting-vm2": let the old prerm's systemctl calls fail.
sed -i 's/^\([[:space:]]*systemctl .*\)$/\1 || true/' "$root/var/lib/dpkg/info/gandi-hosting-vm2.prerm"
dpkg_in -i "$gk" "$agent" && ok "with the README's workaround the upgrade goes through" ||
  bad "the README's workaround does not work"
# dpkg -i (not apt) removes a conflicting package but keeps it selected: state ic,
# which the README says how to clear.
st=$(status_of gandi-hosting-vm2)
echo "  info: after dpkg -i gandi-hosting-vm2 is in state '$st'"
echo gandi-hosting-vm2 deinstall | in_root dpkg --set-selections
st=$(status_of gandi-hosting-vm2)
[[ $st == rc ]] && ok "after the README's dpkg --set-selections: rc" || bad "state '$st' after --set-selections"
[[ -z $(acting_leftovers) ]] || bad "sysvinit: the old package's files still act: $(acting_leftovers)"
compgen -G "$root/etc/rc[S2].d/S*guestkit-config" >/dev/null && ok "guestkit's sysv scripts are linked" ||
  bad "no rc link for guestkit-config"
mv "$root/usr/bin/systemctl.away" "$root/usr/bin/systemctl"

[[ $fail == 0 ]] || exit 1
echo "guestkit takes over from gandi-hosting-vm2 in a $suite chroot"
