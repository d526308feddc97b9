#!/usr/bin/env bash
# The install() rules put every shipped file where packaging expects it (into a
# temporary DESTDIR; nothing lands on the real system).
# Usage: install_test.sh BUILD_DIR
set -euo pipefail
build=$1
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
dest=$(mktemp -d /tmp/guestkit-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT
DESTDIR=$dest cmake --install "$build" >/dev/null
fail=0
for f in "$prefix/sbin/guestkit-boot" /etc/guestkit/guestkit.yml "$prefix/sbin/guestkit-seed" \
         "$prefix/sbin/guestkit-cpu" "$prefix/sbin/guestkit-memory" \
         "$prefix/lib/udev/rules.d/85-guestkit-cpu-memory.rules" \
         "$prefix/sbin/guestkit-iface" "$prefix/sbin/guestkit-dhcp" \
         "$prefix/lib/udev/rules.d/87-guestkit-iface.rules" \
         "$prefix/lib/systemd/system/guestkit-iface@.service" \
         "$prefix/lib/systemd/system/guestkit-dhcp@.service" \
         "$prefix/lib/systemd/system/guestkit-bootstrap.service" \
         "$prefix/lib/systemd/system/guestkit-mount.service" \
         "$prefix/lib/systemd/system/guestkit-config.service" \
         "$prefix/lib/systemd/system/guestkit-config-ssh.service" \
         "$prefix/lib/systemd/system/guestkit-postboot.service" \
         "$prefix/lib/systemd/system/guestkit-disk@.service" \
         "$prefix/lib/udev/rules.d/86-guestkit-disk.rules" \
         "$prefix/sbin/guestkit-disk" \
         "$prefix/sbin/guestkit-agent" "$prefix/bin/guestkit-ctl" /etc/guestkit/agent.yml \
         "$prefix/bin/guestkit" \
         /etc/xinetd.d/guestkit-agent "$prefix/share/guestkit/inetd.conf" \
         "$prefix/lib/systemd/system/guestkit-agent.socket" \
         "$prefix/lib/systemd/system/guestkit-agent@.service" \
         "$prefix/share/doc/guestkit/PROTOCOL.md" "$prefix/lib/tmpfiles.d/guestkit.conf" \
         "$prefix/lib/guestkit/gandi-takeover" \
         "$prefix/share/man/man7/guestkit.7" "$prefix/share/man/man5/guestkit.yml.5" \
         "$prefix/share/man/man5/agent.yml.5" "$prefix/share/man/man1/guestkit-ctl.1" \
         "$prefix/share/man/man8/guestkit-boot.8" "$prefix/share/man/man8/guestkit-disk.8" \
         "$prefix/share/man/man8/guestkit-iface.8" "$prefix/share/man/man8/guestkit-dhcp.8" \
         "$prefix/share/man/man8/guestkit-cpu.8" "$prefix/share/man/man8/guestkit-memory.8" \
         "$prefix/share/man/man8/guestkit-seed.8" "$prefix/share/man/man8/guestkit-agent.8"; do
  [[ -f $dest$f ]] || { echo "missing after install: $f"; fail=1; }
done
for d in /etc/guestkit/plugins.d/config /etc/guestkit/guestkit.yml.d "$prefix/lib/guestkit/plugins.d/config"; do
  [[ -d $dest$d ]] || { echo "missing directory after install: $d"; fail=1; }
done
grep -qx "ExecStart=$prefix/sbin/guestkit-boot config" "$dest$prefix/lib/systemd/system/guestkit-config.service" ||
  { echo "guestkit-config.service does not run $prefix/sbin/guestkit-boot config"; fail=1; }
# The iface units and rule name the installed helpers; the rule starts the unit by
# the interface's final name ($name), the unit runs add and remove.
grep -qx "ExecStart=$prefix/sbin/guestkit-iface add %i" "$dest$prefix/lib/systemd/system/guestkit-iface@.service" &&
  grep -qx "ExecStopPost=$prefix/sbin/guestkit-iface remove %i" "$dest$prefix/lib/systemd/system/guestkit-iface@.service" ||
  { echo "guestkit-iface@.service does not run $prefix/sbin/guestkit-iface add/remove %i"; fail=1; }
grep -qx "ExecStart=$prefix/sbin/guestkit-dhcp %i" "$dest$prefix/lib/systemd/system/guestkit-dhcp@.service" ||
  { echo "guestkit-dhcp@.service does not run $prefix/sbin/guestkit-dhcp %i"; fail=1; }
rules="$dest$prefix/lib/udev/rules.d/87-guestkit-iface.rules"
grep -qF 'RUN+="/bin/systemctl --no-block start guestkit-iface@$name.service"' "$rules" &&
  grep -qF "RUN+=\"$prefix/sbin/guestkit-iface\"" "$rules" && ! grep -q '@[A-Z_]*@' "$rules" ||
  { echo "87-guestkit-iface.rules does not start the unit by \$name or run $prefix/sbin/guestkit-iface"; fail=1; }
"$dest$prefix/sbin/guestkit-iface" --version | grep -q '^guestkit-iface (guestkit) ' ||
  { echo "installed guestkit-iface does not run"; fail=1; }
grep -q "^RUN+=\"$prefix/sbin/guestkit-disk\"$" "$dest$prefix/lib/udev/rules.d/86-guestkit-disk.rules" ||
  { echo "86-guestkit-disk.rules does not run $prefix/sbin/guestkit-disk"; fail=1; }
grep -qx "ExecStopPost=$prefix/sbin/guestkit-disk remove %i" "$dest$prefix/lib/systemd/system/guestkit-disk@.service" ||
  { echo "guestkit-disk@.service does not run guestkit-disk remove as ExecStopPost= (it must run however the add ended)"; fail=1; }
"$dest$prefix/sbin/guestkit-boot" --version | grep -q '^guestkit-boot (guestkit) ' ||
  { echo "installed guestkit-boot does not run"; fail=1; }
# The udev rule runs the helpers where they are installed.
for tool in guestkit-cpu guestkit-memory; do
  grep -q "RUN+=\"$prefix/sbin/$tool\"" "$dest$prefix/lib/udev/rules.d/85-guestkit-cpu-memory.rules" ||
    { echo "85-guestkit-cpu-memory.rules does not run $prefix/sbin/$tool"; fail=1; }
  "$dest$prefix/sbin/$tool" --version | grep -q "^$tool (guestkit) " || { echo "installed $tool does not run"; fail=1; }
done
# sysv init scripts: executable, naming the installed guestkit-boot, ordered like the
# units (bootstrap before the network, config before sshd, postboot after everything).
for stage in bootstrap mount config postboot; do
  script="$dest/etc/init.d/guestkit-$stage"
  [[ -x $script ]] || { echo "missing or not executable after install: /etc/init.d/guestkit-$stage"; fail=1; continue; }
  grep -qx "BOOT=$prefix/sbin/guestkit-boot" "$script" && ! grep -q '@[A-Z_]*@' "$script" ||
    { echo "/etc/init.d/guestkit-$stage does not run $prefix/sbin/guestkit-boot"; fail=1; }
  sh -n "$script" || { echo "/etc/init.d/guestkit-$stage is not valid sh"; fail=1; }
done
grep -q '^# X-Start-Before: .*\$network' "$dest/etc/init.d/guestkit-bootstrap" &&
  grep -q '^# X-Start-Before: *ssh sshd$' "$dest/etc/init.d/guestkit-config" &&
  grep -q '^# Required-Start: *\$all guestkit-config$' "$dest/etc/init.d/guestkit-postboot" ||
  { echo "sysv init scripts are not ordered like the systemd units"; fail=1; }
grep -qx 'Before=ssh.service sshd.service guestkit-mount.service guestkit-config.service' "$dest$prefix/lib/systemd/system/guestkit-config-ssh.service" &&
  grep -qx "ExecStart=$prefix/sbin/guestkit-boot --only 11-config-ssh config" "$dest$prefix/lib/systemd/system/guestkit-config-ssh.service" &&
  grep -q '^Before=.*network-pre.target' "$dest$prefix/lib/systemd/system/guestkit-bootstrap.service" &&
  grep -q '^After=.*multi-user.target' "$dest$prefix/lib/systemd/system/guestkit-postboot.service" ||
  { echo "boot stage units are not ordered (bootstrap before network-pre, config-ssh before ssh, postboot after multi-user)"; fail=1; }
# tmpfiles.d gives guestkit's directories the mode the binaries create them with.
grep -qx 'd /run/guestkit 0755 root root -' "$dest$prefix/lib/tmpfiles.d/guestkit.conf" &&
  grep -qx 'd /var/lib/guestkit 0755 root root -' "$dest$prefix/lib/tmpfiles.d/guestkit.conf" ||
  { echo "tmpfiles.d/guestkit.conf does not create /run/guestkit and /var/lib/guestkit 0755"; fail=1; }
# The shipped config must be valid: list the config stage against it.
"$dest$prefix/sbin/guestkit-boot" --root "$dest" --list config >/dev/null ||
  { echo "guestkit-boot rejects the shipped guestkit.yml"; fail=1; }
# The agent's entries name the installed binary, on port 7391 (inetd: the port number
# as its service field; packages never edit /etc/services).
grep -qP "^\tserver\t\t= $prefix/sbin/guestkit-agent$" "$dest/etc/xinetd.d/guestkit-agent" &&
  grep -qP "^\tport\t\t= 7391$" "$dest/etc/xinetd.d/guestkit-agent" ||
  { echo "xinetd.d/guestkit-agent does not run $prefix/sbin/guestkit-agent on 7391"; fail=1; }
grep -qP "^7391\tstream\ttcp\tnowait\troot\t$prefix/sbin/guestkit-agent\tguestkit-agent$" \
  "$dest$prefix/share/guestkit/inetd.conf" || { echo "inetd.conf line is wrong"; fail=1; }
grep -qx "ListenStream=7391" "$dest$prefix/lib/systemd/system/guestkit-agent.socket" &&
  grep -qx "Accept=yes" "$dest$prefix/lib/systemd/system/guestkit-agent.socket" &&
  grep -qx "ExecStart=$prefix/sbin/guestkit-agent" "$dest$prefix/lib/systemd/system/guestkit-agent@.service" &&
  grep -qx "StandardInput=socket" "$dest$prefix/lib/systemd/system/guestkit-agent@.service" ||
  { echo "guestkit-agent.socket / guestkit-agent@.service are wrong"; fail=1; }
# The shipped agent.yml is valid, and --disable / --enable flip the xinetd entry.
"$dest$prefix/sbin/guestkit-agent" --root "$dest" --disable >/dev/null &&
  grep -qP "^\tdisable\t\t= yes$" "$dest/etc/xinetd.d/guestkit-agent" &&
  "$dest$prefix/sbin/guestkit-agent" --root "$dest" --enable >/dev/null &&
  grep -qP "^\tdisable\t\t= no$" "$dest/etc/xinetd.d/guestkit-agent" ||
  { echo "guestkit-agent --disable/--enable on the installed tree failed"; fail=1; }
# The agent on the virtio-serial port: udev's device unit wants the service, which is
# bound to that device and serves the port; the sysv script starts the same command.
unit="$dest$prefix/lib/systemd/system/guestkit-agent-virtio.service"
rule="$dest$prefix/lib/udev/rules.d/88-guestkit-agent-virtio.rules"
grep -qx "ExecStart=$prefix/sbin/guestkit-agent --listen serial:/dev/virtio-ports/org.guestkit.agent.0" "$unit" &&
  grep -qx 'BindsTo=dev-virtio\\x2dports-org.guestkit.agent.0.device' "$unit" &&
  grep -qF 'SUBSYSTEM=="virtio-ports", ATTR{name}=="org.guestkit.agent.0", TAG+="systemd", ENV{SYSTEMD_WANTS}+="guestkit-agent-virtio.service"' "$rule" ||
  { echo "guestkit-agent-virtio.service or 88-guestkit-agent-virtio.rules is wrong"; fail=1; }
if command -v systemd-escape >/dev/null; then
  [[ $(systemd-escape -p /dev/virtio-ports/org.guestkit.agent.0) == 'dev-virtio\x2dports-org.guestkit.agent.0' ]] ||
    { echo "the port's device unit is not named as BindsTo= says"; fail=1; }
fi
script="$dest/etc/init.d/guestkit-agent-virtio"
[[ -x $script ]] && grep -qx "AGENT=$prefix/sbin/guestkit-agent" "$script" && sh -n "$script" &&
  ! grep -q '@[A-Z_]*@' "$script" ||
  { echo "/etc/init.d/guestkit-agent-virtio is missing, not executable or wrong"; fail=1; }
if command -v systemd-analyze >/dev/null; then
  # The unit as installed, its binary found in DESTDIR.
  mkdir -p "$dest/verify"
  sed "s|=$prefix/sbin/|=$dest$prefix/sbin/|" "$unit" >"$dest/verify/guestkit-agent-virtio.service"
  out=$(systemd-analyze verify --man=no "$dest/verify/guestkit-agent-virtio.service" 2>&1 |
    grep -v 'dev-virtio\\x2dports' || true)
  [[ -z $out ]] || { echo "systemd-analyze verify guestkit-agent-virtio.service: $out"; fail=1; }
fi
"$dest$prefix/bin/guestkit-ctl" --version | grep -q '^guestkit-ctl (guestkit) ' ||
  { echo "installed guestkit-ctl does not run"; fail=1; }
[[ $fail == 0 ]] && echo "install layout ok under $prefix"
exit $fail
