#!/usr/bin/env bash
# gandi-takeover (config/legacy) on a temporary root holding what a removal of
# gandi-hosting-vm2 leaves (tests/packaging/gandi-fixture's conffiles, the links its
# postinst made, now dangling) and a customer's edits: the settings and hooks are
# copied, what would act is moved aside, the dangling links go, the customer's own
# files stay, a second run changes nothing more, and an installed old package is
# left alone. No package build, no chroot: the upgrade test does it for real.
# Usage: takeover_test.sh SOURCE_DIR
set -euo pipefail
src=$(realpath "${1:?usage: takeover_test.sh SOURCE_DIR}")
script=$src/config/legacy/gandi-takeover
fixture=$src/tests/packaging/gandi-fixture
t=$(mktemp -d /tmp/guestkit-takeover.XXXXXX)
trap 'rm -rf "$t"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

make_root() {  # $1: root
  local r=$1 elt
  mkdir -p "$r"
  # A removal keeps the conffiles (everything under /etc) and deletes the rest.
  (cd "$fixture" && tar -c etc) | tar -x -C "$r"
  mkdir -p "$r/lib/systemd/system" "$r/etc/systemd/system/multi-user.target.wants" "$r/etc/rc2.d"
  for elt in mount config postboot bootstrap sshdkeygen; do
    ln -s "/usr/share/gandi/systemd/gandi-$elt.service" "$r/lib/systemd/system/"
    ln -s "/lib/systemd/system/gandi-$elt.service" "$r/etc/systemd/system/multi-user.target.wants/"
  done
  ln -s /usr/share/gandi/systemd/gandi-dhclient@.service "$r/lib/systemd/system/"
  ln -s ../init.d/gandi-config "$r/etc/rc2.d/S01gandi-config"
  # Links that lead somewhere stay.
  : >"$r/lib/systemd/system/ssh.service"
  ln -s /lib/systemd/system/ssh.service "$r/etc/systemd/system/multi-user.target.wants/ssh.service"
  # The customer's edits and own files.
  sed -i -e 's/^CONFIG_MOTD=1/CONFIG_MOTD=0/' -e 's/^CONFIG_NODHCP=.*/CONFIG_NODHCP="eth1"/' "$r/etc/default/gandi"
  printf 'echo "customer post-vm-config"\n' >>"$r/etc/gandi/hooks/post-vm-config"
  printf '#!/bin/sh\necho "customer hook"\n' >"$r/etc/gandi/hooks/post-iface-attach"
  chmod 0750 "$r/etc/gandi/hooks/post-iface-attach"
  printf '#!/bin/sh\necho mine\n' >"$r/etc/gandi/plugins.d/50-customer"
  chmod 0750 "$r/etc/gandi/plugins.d/50-customer"
}

r=$t/root
make_root "$r"
out=$("$script" --root "$r") || bad "gandi-takeover failed: $out"
echo "$out"

# Settings and hooks copied, byte for byte, modes kept.
cmp -s "$r/etc/default/gandi" "$r/etc/guestkit/legacy/gandi" || bad "/etc/default/gandi not copied"
for h in post-vm-config post-iface-attach post-disk-attach pre-disk-detach; do
  cmp -s "$r/etc/gandi/hooks/$h" "$r/etc/guestkit/legacy/hooks/$h" || bad "hook $h not copied"
done
[[ $(stat -c %a "$r/etc/guestkit/legacy/hooks/post-iface-attach") == 750 ]] || bad "hook copy lost its mode"
[[ -f $r/etc/guestkit/legacy/README ]] || bad "no README in /etc/guestkit/legacy"

# What would act is gone from where it acts, kept under legacy/disabled.
for f in /etc/udev/rules.d/86-gandi.rules /etc/kernel/postinst.d/gandi-decompress-kernel \
         /etc/init.d/gandi-bootstrap /etc/init.d/gandi-mount /etc/init.d/gandi-config /etc/init.d/gandi-postboot \
         /etc/gandi/manage_iface.sh /etc/gandi/manage_data_disk.sh /etc/gandi/manage_data_disk.py \
         /etc/auto.master.d/gandi.autofs /etc/auto.gandi /etc/gandi/plugins.d/13-config_motd \
         /etc/gandi/plugins.d/01-config_console; do
  [[ ! -e $r$f ]] || bad "$f still in place"
  cmp -s "$fixture$f" "$r/etc/guestkit/legacy/disabled$f" || bad "$f not kept under legacy/disabled"
done
# Dangling links gone, live ones kept.
left=$(find "$r/lib/systemd" "$r/etc/systemd" "$r/etc/rc2.d" -name '*gandi*')
[[ -z $left ]] || bad "links left: $left"
[[ -L $r/etc/systemd/system/multi-user.target.wants/ssh.service ]] || bad "a live link was removed"
# The customer's own files stay where they are.
for f in /etc/default/gandi /etc/gandi/hooks/post-vm-config /etc/gandi/plugins.d/50-customer /etc/gandi/plugins-lib; do
  [[ -f $r$f ]] || bad "$f was moved or removed"
done

# A second run moves nothing more and keeps the copies.
again=$("$script" --root "$r") || bad "second run failed"
[[ -z $again ]] || bad "second run did something: $again"
cmp -s "$r/etc/default/gandi" "$r/etc/guestkit/legacy/gandi" || bad "copy lost on the second run"

# After a purge of the old package (originals gone) a run keeps the copies.
rm -rf "$r/etc/default/gandi" "$r/etc/gandi/hooks"
"$script" --root "$r" >/dev/null || bad "run after the purge failed"
grep -q '^CONFIG_MOTD=0' "$r/etc/guestkit/legacy/gandi" || bad "copy lost after the purge"
[[ -f $r/etc/guestkit/legacy/hooks/post-vm-config ]] || bad "hook copy lost after the purge"

# Still installed: nothing is touched.
r2=$t/installed
make_root "$r2"
mkdir -p "$r2/var/lib/dpkg/info" "$r2/var/lib/dpkg/updates"
printf 'Package: gandi-hosting-vm2\nStatus: install ok installed\nVersion: 2.43\nArchitecture: all\nMaintainer: x <x@example.invalid>\nDescription: x\n' \
  >"$r2/var/lib/dpkg/status"
out=$("$script" --root "$r2") || bad "gandi-takeover failed with the old package installed"
grep -q 'still installed' <<<"$out" || bad "no word about the installed old package: $out"
[[ -f $r2/etc/udev/rules.d/86-gandi.rules && ! -e $r2/etc/guestkit ]] ||
  bad "files touched while the old package is installed"

"$script" --bogus >/dev/null 2>&1 && bad "an unknown option is accepted"
[[ $fail == 0 ]] || exit 1
echo "gandi-takeover: copies, moves aside, cleans links, idempotent"
