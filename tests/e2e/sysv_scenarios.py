"""Issue 19's sysvinit guest: Debian 12 with sysvinit-core as PID 1 and no systemd
installed at all (build-image flavour "sysvinit", vm.VARIANTS["sysvinit"]). Each
scenario proves from inside the guest what the systemd guest's scenarios take from
systemd: that the sysv scripts ran the stages in order, once each, before sshd; that
udev ran the helpers itself; that openbsd-inetd spawned the agent. There is no
journal: the guest's log is rsyslog's /var/log/syslog.
"""

import json
import os
import re
import time

import vm as vmmod

STAGES = ["bootstrap", "mount", "config", "postboot"]
SYSLOG = "/var/log/syslog"
NIC_MAC = "52:54:00:e2:e5:01"
DEAD_MAC = "52:54:00:e2:e5:02"
# Most udevadm settle may take after a NIC on a network without DHCP appears: the add
# is detached (guestkit-iface --detach); in the event it would wait iface.dhcp_timeout (30 s).
SETTLE_MAX = 15
# qemu-ga started by its init script has init's PATH, without /usr/local (where
# cmake --install puts guestkit when no .debs were built).
GK = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; "


def _sc():
    import scenarios  # the shared helpers (Fail, provision, disks); imported late: it imports us
    return scenarios


def _uptime_of_pid(c, pid):
    """Guest uptime (s) at which process PID started (/proc/PID/stat field 22)."""
    out = c.guest_ok(f"cut -d')' -f2- /proc/{pid}/stat | cut -d' ' -f21; getconf CLK_TCK").split()
    return int(out[0]) / int(out[1])


def sysv_boot(c):
    problems = []
    c.say(f"the guest booted to runlevel 2 in {c.vm.state.get('boot_seconds')} s "
          f"({c.vm.state.get('accel')}); guest uptime at the ready marker: "
          f"{c.vm.state.get('guest_uptime_at_ready')} s")
    # No systemd, proven: PID 1 is sysvinit's init, systemd is not even installed.
    _, init = c.show("readlink /proc/1/exe; cat /proc/1/comm; runlevel; "
                     "dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n' sysvinit-core systemd systemd-sysv "
                     "2>&1; command -v systemctl || echo 'no systemctl'; "
                     "test -e /run/systemd/system && echo '/run/systemd/system exists' || true")
    if not re.search(r"^/(usr/)?sbin/init$", init, re.M) or "sysvinit-core ii" not in init:
        problems.append(f"PID 1 is not sysvinit's init: {init.strip()!r}")
    if re.search(r"^systemd(-sysv)? ii", init, re.M) or "no systemctl" not in init \
            or "/run/systemd/system exists" in init:
        problems.append(f"systemd is installed or running in the sysvinit guest: {init.strip()!r}")
    udevd = c.guest_ok("pgrep -x systemd-udevd || pgrep -x udevd || true").split()
    c.say(f"udevd running standalone: pid {udevd}")
    if not udevd:
        problems.append("no udevd runs in the guest")
    c.show("ls /etc/rcS.d /etc/rc2.d | grep -E 'guestkit|udev|ssh|inetd|rsyslog|qemu'")

    # The stages, each once, in order: one line per run from the 99-e2e-stage-mark
    # admin plugin of each stage (build-image), with the guest's uptime.
    text = c.guest_ok("cat /run/guestkit-e2e/stages.log 2>/dev/null || true")
    runs = [line.split() for line in text.splitlines() if line.strip()]
    c.say("stage runs (stage, guest uptime, guestkit-boot pid): " + "; ".join(" ".join(r) for r in runs))
    names = [r[0] for r in runs]
    if names != STAGES:
        problems.append(f"the stages ran as {names}, not once each in the order {STAGES}")
    times = [float(r[1]) for r in runs if len(r) > 1]
    if times != sorted(times):
        problems.append(f"the stage marks are not in time order: {times}")
    mark = {r[0]: float(r[1]) for r in runs if len(r) > 1}

    # Every stage's run record: all plugins ok, each begun after the one before ended.
    reports = {}
    for stage in STAGES:
        code, raw, _ = c.guest(f"cat /run/guestkit/boot-{stage}.json")
        try:
            reports[stage] = json.loads(raw)
        except ValueError:
            problems.append(f"no run record of the {stage} stage (/run/guestkit/boot-{stage}.json)")
            continue
        plugins = reports[stage].get("plugins", [])
        bad = [f"{p.get('name')}={p.get('status')} {p.get('message', '')}".strip()
               for p in plugins if str(p.get("status", "")).lower() in _sc().BAD_STATUS]
        c.say(f"stage {stage}: {len(plugins)} plugins, exit code {reports[stage].get('exit_code')}, "
              f"{reports[stage].get('duration_ms', 0):.0f} ms" + (f", NOT ok: {bad}" if bad else ", all ok"))
        if bad or reports[stage].get("exit_code") != 0:
            problems.append(f"stage {stage}: not ok: {bad or reports[stage].get('exit_code')}")
    for a, b in zip(STAGES, STAGES[1:]):
        if a in reports and b in reports and reports[b].get("started", 0) < reports[a].get("finished", 0):
            problems.append(f"stage {b} started ({reports[b].get('started')}) before {a} finished "
                            f"({reports[a].get('finished')})")
    code, _ = c.show(GK + "guestkit-boot report")
    if code != 0:
        problems.append(f"`guestkit-boot report` exited {code}")

    # sshd comes after the config stage (its host keys, sshd_config): X-Start-Before.
    sshd = c.guest_ok("cat /run/sshd.pid 2>/dev/null || pgrep -o -x sshd || true").strip()
    if not sshd:
        problems.append("sshd does not run")
    elif "config" in mark:
        started = _uptime_of_pid(c, sshd)
        c.say(f"sshd (pid {sshd}) started at uptime {started:.2f} s, the config stage's last plugin "
              f"ran at {mark['config']:.2f} s")
        if started < mark["config"]:
            problems.append(f"sshd started ({started:.2f} s) before the config stage ended ({mark['config']:.2f} s)")

    # The boot NIC: its lease from the client guestkit started, alive after the udev
    # event and the stage that started it (udev standalone kills nothing it leaves).
    nic = _sc()._iface_by_mac(c, vmmod.BOOT_NIC_MAC)
    _, state = c.show(f"{GK}ip -4 -o addr show dev {nic}; pgrep -a dhclient; guestkit-iface --status")
    if "inet " not in state:
        problems.append(f"the boot NIC {nic} has no IPv4 address")
    if not re.search(rf"dhclient.*\b{re.escape(nic)}\b", state):
        problems.append(f"no DHCP client runs for the boot NIC {nic}")
    # Where the boot NIC's lease was waited for: udev's coldplug event runs
    # guestkit-iface in rcS, and `udevadm settle` (the udev script) waits for it.
    out = c.guest_ok(f"pid=$(cat /run/guestkit/iface/{nic}.pid); "
                     "cut -d')' -f2- /proc/$pid/stat | cut -d' ' -f21; getconf CLK_TCK; "
                     f"stat -c %Y /run/guestkit/iface/{nic}.leases; sed -n 's/^btime //p' /proc/stat").split()
    if len(out) == 4:
        client = int(out[0]) / int(out[1])
        leased = int(out[2]) - int(out[3])
        c.say(f"boot NIC {nic}: dhclient started at uptime {client:.1f} s, lease written at ~{leased} s; "
              f"bootstrap's mark {mark.get('bootstrap', 0):.1f} s")
    # udev's coldplug event (rcS) and the mount stage's 30-coldplug-ifaces both see the
    # boot NIC: the attach hook must still run once.
    attached = [h for h in c.hooks() if h == f"post-iface-attach {nic}"]
    c.say(f"post-iface-attach {nic}: run {len(attached)} time(s)")
    if len(attached) != 1:
        problems.append(f"post-iface-attach ran {len(attached)} times for the boot NIC {nic}, not once")
    cold = next((p for p in reports.get("mount", {}).get("plugins", []) if p.get("name") == "30-coldplug-ifaces"),
                None)
    if cold is not None:
        c.say(f"mount/30-coldplug-ifaces: {cold.get('status')} in {float(cold.get('duration_ms', 0)):.0f} ms")

    # bootstrap formatted and enabled the blank swap disk.
    dev = c.guest_ok("readlink -f /dev/disk/by-id/virtio-e2e-swap").strip()
    _, swaps = c.show("cat /proc/swaps")
    if not any(line.split()[0].startswith(dev) for line in swaps.splitlines()[1:] if line.split()):
        problems.append(f"no swap enabled on {dev} (the blank disk attached at boot)")

    # Every stage logged somewhere an operator finds it: bootstrap and mount run before
    # rsyslog (rcS, early rc2), so their lines must reach the console.
    console = open(c.vm.path("console.log"), encoding="utf-8", errors="replace").read()
    _, syslog, _ = c.guest(f"grep -F 'guestkit' {SYSLOG}")
    for stage in STAGES:
        # The runner's closing line of a stage: "guestkit-boot: STAGE: N plugins: ...".
        pattern = rf"guestkit-boot: {stage}: \d+ plugins?: "
        where = [w for w, t in (("console", console), (SYSLOG, syslog)) if re.search(pattern, t)]
        c.say(f"stage {stage}'s summary line: in {', '.join(where) or 'NEITHER'}")
        if not where:
            problems.append(f"the {stage} stage's summary line is neither on the console nor in {SYSLOG}")
    if problems:
        raise _sc().Fail("; ".join(problems))


def sysv_provision(c):
    """openbsd-inetd spawns the agent from the line the package registers; the order
    provisions; the agent then disables its line and makes inetd reread it."""
    _, out = c.show(f"grep -n guestkit-agent /etc/inetd.conf; cat /run/inetd.pid; "
                    f"ss -Htlnp 'sport = :{vmmod.AGENT_PORT}'")
    c.check(re.search(r'users:\(\("inetd"', out) is not None,
            f"port {vmmod.AGENT_PORT} is not held by inetd in the guest: {out.strip()[:300]!r}")
    _sc().provision(c)
    _, out = c.show("grep -n guestkit-agent /etc/inetd.conf")
    c.check(re.search(r"^\d+:#<off># ", out, re.M) is not None,
            f"the agent's inetd.conf line is not disabled after the order: {out.strip()!r}")


def sysv_disk(c):
    """A data disk hot-added over QMP: udev runs guestkit-disk from the rule (no unit),
    which mounts it at /srv/data in the system's mount namespace; removed, it is
    unmounted and the directory goes."""
    sc = _sc()
    problems = []
    with c.vm.qmp() as qmp:
        img = sc._data_disk(c, "sysv1", "data", "hello from sysv1")
        t = sc._attach_disk(c, qmp, "sysv1", img)
        dev, _ = c.poll("/dev/disk/by-id/virtio-e2e-sysv1 in the guest",
                        lambda: c.guest("readlink -e /dev/disk/by-id/virtio-e2e-sysv1")[1].strip(), 60)
        target, _ = c.poll(f"{dev} mounted by guestkit", lambda: sc._mounted_at(c, dev), 90)
        c.measure(f"device_add -> {dev} mounted at {target}", time.monotonic() - t)
        if target != "/srv/data":
            problems.append(f"{dev} mounted at {target}, expected /srv/data")
        # The mount is in init's namespace (what sshd's sessions see), not in a private one.
        code, out = c.show(f"cat {target}/hello.txt; grep -c ' {target} ' /proc/1/mountinfo; "
                           f"grep -F 'guestkit-disk' {SYSLOG} | tail -n 3")
        if "hello from sysv1" not in out:
            problems.append(f"{target}/hello.txt is not the disk's file")
        hook = [h for h in c.hooks() if h.startswith("post-disk-attach") and dev in h and target in h]
        c.say(f"hook: {hook[0] if hook else 'post-disk-attach NOT run'}")
        if not hook:
            problems.append(f"post-disk-attach did not run for {dev} at {target}")

        t = time.monotonic()
        c.unplug(qmp, "e2e-sysv1")
        qmp.execute("blockdev-del", **{"node-name": "e2e-sysv1"})

        def gone():
            _, out, _ = c.guest(f"findmnt -rn {target} >/dev/null && echo mounted; test -e {target} && echo exists; "
                                f"test -e {dev} && echo device; true")
            return out.strip() == ""
        try:
            c.poll(f"{target} unmounted and removed after {dev} went", gone, 90)
            c.measure(f"device_del -> {target} unmounted and its directory gone", time.monotonic() - t)
        except sc.Fail as e:
            problems.append(str(e))
        hook = [h for h in c.hooks() if h.startswith("pre-disk-detach") and dev in h]
        c.say(f"hook: {hook[-1] if hook else 'pre-disk-detach NOT run'}")
        if not hook:
            problems.append(f"pre-disk-detach did not run for {dev}")
        os.unlink(c.vm.path("disk-sysv1.img"))
    if problems:
        raise sc.Fail("; ".join(problems))


def sysv_nic(c):
    """A NIC hot-added: udev runs guestkit-iface from the rule, its DHCP client outlives
    the event and gets the lease; the private NIC loses its default route; unplugged,
    the client and state go."""
    sc = _sc()
    problems = []
    first = sc._iface_by_mac(c, vmmod.BOOT_NIC_MAC)
    with c.vm.qmp() as qmp:
        t = time.monotonic()
        qmp.execute("netdev_add", type="user", id="e2e-sysvnet", net="10.0.4.0/24", restrict=True)
        qmp.execute("device_add", driver="virtio-net-pci", id="e2e-sysvnic", netdev="e2e-sysvnet",
                    mac=NIC_MAC, romfile="")
        c.say("qmp: netdev_add user (restrict, 10.0.4.0/24) + device_add virtio-net-pci")
        name, _ = c.poll("the new NIC in the guest", lambda: sc._iface_by_mac(c, NIC_MAC), 60)
        # The rule runs `guestkit-iface --detach`: the udev event (and so `udevadm settle`,
        # which rcS runs at boot) need not wait for the lease. Printed only: slirp's lease
        # can come as fast as the event ends, so this alone cannot tell the two apart
        # (integration "guestkit-iface --detach returns at once, the work goes on" does).
        t_settle = time.monotonic()
        c.show(f"udevadm settle -t 60; ip -4 -o addr show dev {name} | grep -c 'inet 10\\.0\\.4\\.' || true")
        c.measure(f"udevadm settle after {name} appeared", time.monotonic() - t_settle)

        def lease():
            _, out, _ = c.guest(f"ip -4 -o addr show dev {name}")
            m = re.search(r"inet (10\.0\.4\.\d+)/", out)
            return m.group(1) if m else None
        addr, _ = c.poll(f"a DHCP lease on {name}", lease, 90)
        c.measure(f"device_add -> {name} has {addr} by DHCP", time.monotonic() - t)
        time.sleep(2)  # the udev event is over by now: its children would be gone
        _, out = c.show(f"{GK}pgrep -a dhclient; ip -4 route show default; guestkit-iface --status")
        if not re.search(rf"dhclient.*\b{re.escape(name)}\b", out):
            problems.append(f"no DHCP client runs for {name} after its udev event")
        routes = sc._default_routes(c)
        if not routes or any(dev != first for _, dev in routes):
            problems.append(f"the default route is not only on the public first NIC {first}: {routes}")
        hook = [h for h in c.hooks() if h == f"post-iface-attach {name}"]
        if not hook:
            problems.append(f"post-iface-attach did not run for {name}")

        t = time.monotonic()
        c.unplug(qmp, "e2e-sysvnic")
        qmp.execute("netdev_del", id="e2e-sysvnet")
        sc._gone_after_unplug(c, problems, name, "its DHCP client and state",
                              [f"test -e /sys/class/net/{name} && echo present"] +
                              sc._iface_leftovers(name, units=False), t)
        if not [h for h in c.hooks() if h == f"pre-iface-detach {name}"]:
            problems.append(f"pre-iface-detach did not run for {name}")

    # A NIC on a network where nothing answers DHCP (a QEMU hub with no other port):
    # the udev event must end at once, not after iface.dhcp_timeout.
    with c.vm.qmp() as qmp:
        qmp.execute("netdev_add", type="hubport", id="e2e-deadnet", hubid=42)
        qmp.execute("device_add", driver="virtio-net-pci", id="e2e-deadnic", netdev="e2e-deadnet",
                    mac=DEAD_MAC, romfile="")
        c.say("qmp: netdev_add hubport (no DHCP server) + device_add virtio-net-pci")
        dead, _ = c.poll("the NIC without DHCP in the guest", lambda: sc._iface_by_mac(c, DEAD_MAC), 60)
        t = time.monotonic()
        c.show(f"udevadm settle -t 60; {GK}guestkit-iface --status")
        settle = time.monotonic() - t
        c.measure(f"udevadm settle after {dead} (no DHCP answer) appeared", settle)
        if settle > SETTLE_MAX:
            problems.append(f"udevadm settle took {settle:.1f} s after {dead} appeared: the udev event "
                            "waited for a DHCP lease")
        c.unplug(qmp, "e2e-deadnic")
        qmp.execute("netdev_del", id="e2e-deadnet")
        try:
            c.poll(f"{dead}'s DHCP client and state gone",
                   lambda: c.guest(f"ls /run/guestkit/iface/ 2>/dev/null | grep -F '{dead}'; "
                                   f"pgrep -af 'dhclien[t].*{dead}'; true")[1].strip() == "", 90)
        except sc.Fail as e:
            problems.append(str(e))
    if problems:
        raise sc.Fail("; ".join(problems))


SCENARIOS = {
    "sysv-boot": ("sysvinit boot: no systemd, the sysv scripts ran the four stages once each, in order, "
                  "before sshd",
                  "A Debian 12 guest with sysvinit-core as PID 1 and no systemd installed: insserv "
                  "ordered guestkit's sysv scripts by their LSB headers; each stage leaves a mark, the "
                  "run records say every plugin was ok, sshd starts after the config stage.", sysv_boot),
    "sysv-provision": ("sysvinit provision: openbsd-inetd spawns the agent, the order provisions",
                       "openbsd-inetd holds port 7391 from the line the package registers; guestkit-ctl's "
                       "order sets passwords, the admin, keys and the hostname, then the agent turns "
                       "its line off and makes inetd reread it.", sysv_provision),
    "sysv-disk": ("sysvinit disk: udev runs guestkit-disk itself, the disk is mounted at /srv/data",
                  "No unit to start: the rule runs guestkit-disk, which mounts the hot-added disk at "
                  "/srv/data and unmounts it when it goes.", sysv_disk),
    "sysv-nic": ("sysvinit NIC: udev runs guestkit-iface itself, its DHCP client keeps the lease",
                 "The rule runs guestkit-iface, whose dhclient outlives the udev event; the private NIC "
                 "leaves the default route to the public one; unplugged, all is cleaned up.", sysv_nic),
}
ORDERS = {
    "sysvinit": ["sysv-boot", "sysv-provision", "sysv-disk", "sysv-nic"],
}
