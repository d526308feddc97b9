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
for f in "$prefix/sbin/guestkit-boot" "$prefix/sbin/guestkit-cpu" "$prefix/sbin/guestkit-memory" \
         /etc/guestkit/guestkit.yml "$prefix/lib/udev/rules.d/85-guestkit-cpu-memory.rules" \
         "$prefix/lib/systemd/system/guestkit-bootstrap.service" \
         "$prefix/lib/systemd/system/guestkit-mount.service" \
         "$prefix/lib/systemd/system/guestkit-config.service" \
         "$prefix/lib/systemd/system/guestkit-postboot.service"; do
  [[ -f $dest$f ]] || { echo "missing after install: $f"; fail=1; }
done
for d in /etc/guestkit/plugins.d/config /etc/guestkit/guestkit.yml.d "$prefix/lib/guestkit/plugins.d/config"; do
  [[ -d $dest$d ]] || { echo "missing directory after install: $d"; fail=1; }
done
grep -qx "ExecStart=$prefix/sbin/guestkit-boot config" "$dest$prefix/lib/systemd/system/guestkit-config.service" ||
  { echo "guestkit-config.service does not run $prefix/sbin/guestkit-boot config"; fail=1; }
"$dest$prefix/sbin/guestkit-boot" --version | grep -q '^guestkit-boot (guestkit) ' ||
  { echo "installed guestkit-boot does not run"; fail=1; }
# The udev rule runs the helpers where the packages put them (prefix /usr).
for tool in guestkit-cpu guestkit-memory; do
  grep -q "RUN+=\"/usr/sbin/$tool\"" "$dest$prefix/lib/udev/rules.d/85-guestkit-cpu-memory.rules" ||
    { echo "85-guestkit-cpu-memory.rules does not run /usr/sbin/$tool"; fail=1; }
  "$dest$prefix/sbin/$tool" --version | grep -q "^$tool (guestkit) " || { echo "installed $tool does not run"; fail=1; }
done
# The shipped config must be valid: list the config stage against it.
"$dest$prefix/sbin/guestkit-boot" --root "$dest" --list config >/dev/null ||
  { echo "guestkit-boot rejects the shipped guestkit.yml"; fail=1; }
[[ $fail == 0 ]] && echo "install layout ok under $prefix"
exit $fail
