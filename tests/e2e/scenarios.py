"""The six e2e scenarios, each run against the booted guest (vm.VM).

A scenario prints a readable account of what it does (scripts/demo shows it as is)
and raises Fail with a clear message when the guest does not do what it must. Every
wait is a poll with a deadline; the deadlines are generous because TCG on a shared
2-core machine is slow, and the measured time is printed.
"""

import ctypes
import ctypes.util
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time

import vm as vmmod
from qmp import CommandError


class Fail(Exception):
    pass


class Context:
    def __init__(self, vm, name):
        self.vm = vm
        self.name = name
        self.t0 = time.monotonic()
        self.notes = []  # (label, seconds) measured by the scenario, for the summary

    def say(self, text):
        print(f"[{time.monotonic() - self.t0:6.1f}s] {text}", flush=True)

    def measure(self, label, seconds):
        self.notes.append((label, round(seconds, 1)))
        self.say(f"timing: {label}: {seconds:.1f} s")

    def check(self, cond, message):
        if not cond:
            raise Fail(message)

    # ---- the guest, through qemu-guest-agent ----
    def guest(self, script, timeout=60):
        with self.vm.qga(timeout=15) as ga:
            return ga.sh(script, timeout=timeout)

    def guest_ok(self, script, timeout=60):
        code, out, err = self.guest(script, timeout)
        if code != 0:
            raise Fail(f"in the guest, `{script}` exited {code}: {(err or out).strip()[:500]}")
        return out

    def show(self, script, timeout=60):
        """Runs a command in the guest and prints it with its output, like a terminal."""
        code, out, err = self.guest(script, timeout)
        print(f"  guest$ {script}")
        for line in (out + err).rstrip("\n").splitlines():
            print(f"    {line}")
        if code != 0:
            print(f"    (exit status {code})")
        return code, out

    def poll(self, what, fn, timeout, interval=0.25):
        """fn() until it returns something true; Fail naming WHAT and the last value after TIMEOUT."""
        start = time.monotonic()
        last = None
        while True:
            try:
                last = fn()
            except (TimeoutError, OSError) as e:  # the guest agent busy or restarting
                last = f"({e})"
                value = None
            else:
                value = last
            if value:
                return value, time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise Fail(f"{what}: not within {timeout} s (last seen: {str(last).strip()[:300]!r})")
            time.sleep(interval)

    def hooks(self):
        _, out, _ = self.guest("cat /run/guestkit-e2e/hooks.log 2>/dev/null")
        return out.splitlines()

    # ---- QMP ----
    def unplug(self, qmp, dev_id, timeout=90):
        t = time.monotonic()
        qmp.execute("device_del", id=dev_id)
        self.say(f"qmp: device_del {dev_id}")
        qmp.wait_event("DEVICE_DELETED", timeout, match=lambda d: d.get("device") == dev_id)
        self.measure(f"device_del {dev_id} -> DEVICE_DELETED (guest acknowledged)", time.monotonic() - t)


# ----------------------------------------------------------------------------------
# 1. boot


BOOT_UNITS = ["guestkit-bootstrap", "guestkit-mount", "guestkit-config", "guestkit-postboot"]
BAD_STATUS = {"failed", "timeout", "error", "aborted"}


def boot(c):
    c.say(f"the guest booted to multi-user in {c.vm.state.get('boot_seconds')} s "
          f"({c.vm.state.get('accel')}); guest uptime at the ready marker: "
          f"{c.vm.state.get('guest_uptime_at_ready')} s")
    try:
        mode = open(c.vm.path("image", "install-mode"), encoding="utf-8").read().strip()
    except OSError:
        mode = "?"
    c.say("guestkit was installed in the image " + {
        "deb": "from its .deb packages (dpkg -i)",
        "cmake-install": "from the build tree (cmake --install): no fresh .debs in dist/",
    }.get(mode, f"by '{mode}'"))
    problems = []
    # The boot must finish (no start job left waiting) with no failed unit.
    t = time.monotonic()
    code, state, _ = c.guest("timeout 120 systemctl is-system-running --wait", timeout=150)
    c.say(f"systemctl is-system-running: {state.strip()} (waited {time.monotonic() - t:.1f} s)")
    if state.strip() != "running":
        _, jobs, _ = c.guest("systemctl list-jobs --no-legend | head -n 8; systemctl --failed --no-legend")
        problems.append(f"the boot did not finish cleanly (system state '{state.strip()}'): "
                        f"{' | '.join(jobs.strip().splitlines())}")
    # A unit of ours waiting for a device that never comes times out instead of failing.
    _, stuck, _ = c.guest("journalctl -b _PID=1 -o cat --no-pager | grep -E "
                          "'Dependency failed for guestkit|Timed out waiting for device|Job .* timed out' | head -n 5")
    if stuck.strip():
        problems.append("boot jobs timed out: " + " | ".join(stuck.strip().splitlines()))
    for unit in BOOT_UNITS:
        out = c.guest_ok(f"systemctl show {unit}.service -p LoadState -p ActiveState -p Result -p ExecMainStatus")
        props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        c.say(f"{unit}.service: " + " ".join(f"{k}={v}" for k, v in sorted(props.items())))
        if props.get("LoadState") != "loaded":
            problems.append(f"{unit}.service is not installed (LoadState={props.get('LoadState')})")
        elif props.get("ActiveState") != "active" or props.get("Result") != "success":
            problems.append(f"{unit}.service did not run successfully ({props})")

    c.say("guestkit-boot report (issue 7: the last report of every stage, slowest first):")
    code, out = c.show("guestkit-boot report")
    if code != 0:
        problems.append(f"`guestkit-boot report` exited {code} (does this build have issue 7's boot stages?)")

    # Every plugin of every stage ok: the stage reports the runner records.
    for stage in ("bootstrap", "mount", "config", "postboot"):
        _, text, _ = c.guest(f"cat /run/guestkit/boot-{stage}.json 2>/dev/null || cat /run/guestkit/runs/{stage}.json")
        try:
            report = json.loads(text)
        except ValueError:
            problems.append(f"no report of the {stage} stage in the guest (/run/guestkit/boot-{stage}.json "
                            f"or /run/guestkit/runs/{stage}.json)")
            continue
        plugins = report.get("plugins", [])
        bad = [f"{p.get('name')}={p.get('status')} {p.get('message', '')}".strip()
               for p in plugins if str(p.get("status", "")).lower() in BAD_STATUS]
        c.say(f"stage {stage}: {len(plugins)} plugins, exit code {report.get('exit_code')}"
              + (f", NOT ok: {bad}" if bad else ", all ok"))
        if bad or report.get("exit_code", 0) not in (0, None):
            problems.append(f"stage {stage}: plugins not ok: {bad or report.get('exit_code')}")

    c.say("swap: the blank disk attached at boot (serial e2e-swap) must be formatted and in use")
    dev = c.guest_ok("readlink -f /dev/disk/by-id/virtio-e2e-swap").strip()
    code, swaps = c.show("cat /proc/swaps")
    if not any(line.split()[0].startswith(dev) for line in swaps.splitlines()[1:] if line.split()):
        problems.append(f"no swap enabled on {dev} (the blank disk attached at boot)")
    if problems:
        raise Fail("; ".join(problems))


# ----------------------------------------------------------------------------------
# 2. provision


ADMIN = "customer"


def _crypt_verifies(password, hashed):
    """libcrypt's crypt(): the same check login and su make against the shadow hash."""
    lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    out = lib.crypt(password.encode(), hashed.encode())
    return out is not None and out.decode() == hashed


def _find_ctl():
    build = os.environ.get("GUESTKIT_BUILD_DIR", os.path.join(vmmod.SRC, "build"))
    for cand in (os.path.join(build, "agent", "guestkit-ctl"), os.path.join(build, "guestkit-ctl")):
        if os.access(cand, os.X_OK):
            return cand
    for dirpath, _, files in os.walk(build):
        if "guestkit-ctl" in files and os.access(os.path.join(dirpath, "guestkit-ctl"), os.X_OK):
            return os.path.join(dirpath, "guestkit-ctl")
    return None


def _ssh(c, key, command, timeout=60):
    argv = ["ssh", "-p", str(c.vm.state["ssh_port"]), "-i", key,
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=30",
            f"{ADMIN}@127.0.0.1", command]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def provision(c):
    ctl = _find_ctl()
    c.check(ctl is not None, "guestkit-ctl is not built (issue 6, the agent, is not in this tree): "
            "cannot send an order")
    code, out, _ = c.guest("test -x /usr/sbin/guestkit-agent || test -x /usr/local/sbin/guestkit-agent; "
                           "grep -h guestkit-agent /etc/inetd.conf")
    c.check(code == 0, "the guest has no guestkit-agent registered with inetd (the guestkit-agent "
            "package, issues 6 and 8)")
    c.say(f"inetd line in the guest: {out.strip()}")
    _, listening, _ = c.guest(f"ss -Htln 'sport = :{vmmod.AGENT_PORT}'")
    if not listening.strip():
        _, why, _ = c.guest("journalctl -b -o cat --no-pager -u inetd.service | tail -n 5")
        raise Fail(f"nothing listens on port {vmmod.AGENT_PORT} in the guest; inetd says: "
                   + " | ".join(why.strip().splitlines()))

    work = c.vm.path("provision")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work, mode=0o700)
    keys = []
    for n in (1, 2):
        key = os.path.join(work, f"id_ed25519_{n}")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"e2e-key-{n}", "-f", key], check=True)
        keys.append(key)
    pubs = [open(k + ".pub", encoding="utf-8").read().strip() for k in keys]
    root_pw = "e2e-root-" + secrets.token_urlsafe(12)
    admin_pw = "e2e-admin-" + secrets.token_urlsafe(12)
    instance = open(c.vm.path("image", "instance-id"), encoding="utf-8").read().strip()
    order = os.path.join(work, "order.yml")
    fd = os.open(order, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f"instance_id: {instance}\n"
                "hostname: e2e-provisioned\n"
                "root:\n"
                f"  password: \"{root_pw}\"\n"
                "admin:\n"
                f"  name: {ADMIN}\n"
                f"  password: \"{admin_pw}\"\n"
                "  sudo: nopasswd\n"
                "  ssh_keys:\n" + "".join(f"    - \"{p}\"\n" for p in pubs))
    try:
        _provision_checks(c, ctl, order, keys, root_pw, admin_pw)
    finally:
        os.unlink(order)  # it holds the passwords


def _provision_checks(c, ctl, order, keys, root_pw, admin_pw):
    target = f"tcp:127.0.0.1:{c.vm.state['agent_port']}"
    argv = [ctl, "--connect", target, "--key", c.vm.path("image", "agent.key"), "provision", order]
    c.say("host$ " + " ".join(os.path.relpath(a, vmmod.SRC) if a.startswith(vmmod.SRC) else a for a in argv))
    t = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    for line in (p.stdout + p.stderr).rstrip().splitlines():
        print(f"    {line}")
    c.measure("order sent, through the forwarded port and inetd, to answer", time.monotonic() - t)
    c.check(p.returncode == 0, f"guestkit-ctl provision exited {p.returncode}")

    problems = []
    for n, key in enumerate(keys, 1):
        t = time.monotonic()
        code, out, err = _ssh(c, key, "id -un; hostname; sudo -n true && echo sudo-ok")
        c.say(f"host$ ssh -i key{n} {ADMIN}@guest 'id -un; hostname; sudo -n true && echo sudo-ok' -> "
              f"exit {code}: {out.split()} {err.strip()[:200]}")
        if code != 0 or out.split() != [ADMIN, "e2e-provisioned", "sudo-ok"]:
            problems.append(f"ssh as {ADMIN} with key {n}: exit {code}, output {out.split()}, {err.strip()[:200]}")
        else:
            c.measure(f"ssh login with key {n}", time.monotonic() - t)

    for user, pw in (("root", root_pw), (ADMIN, admin_pw)):
        _, line, _ = c.guest(f"getent shadow {user}")
        fields = line.strip().split(":")
        hashed = fields[1] if len(fields) > 1 else ""
        ok = bool(hashed) and _crypt_verifies(pw, hashed)
        c.say(f"{user}'s shadow hash ({hashed.split('$')[1] if hashed.count('$') > 2 else '?'}) "
              f"{'verifies' if ok else 'does NOT verify'} the ordered password")
        if not ok:
            problems.append(f"{user}'s password in /etc/shadow does not verify")

    def port_closed():
        _, out, _ = c.guest(f"ss -Htln 'sport = :{vmmod.AGENT_PORT}'")
        return out.strip() == ""
    try:
        _, waited = c.poll("the agent port closing (retired after provision)", port_closed, 60, 0.5)
        c.measure(f"agent port {vmmod.AGENT_PORT} closed in the guest after the order", waited)
    except Fail as e:
        problems.append(str(e))

    p = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    c.say(f"a second order -> exit {p.returncode}: {(p.stdout + p.stderr).strip()[:300]}")
    if p.returncode == 0:
        problems.append("a second provision order was accepted")
    if problems:
        raise Fail("; ".join(problems))


# ----------------------------------------------------------------------------------
# 2b. the agent over vsock


VSOCK_PORT = 7393


def vsock(c):
    """guestkit-agent --listen vsock:PORT, the inetd-less transport a platform uses
    from the hypervisor's side. This host has no vhost-vsock, so QEMU cannot give the
    guest a vsock device; the guest kernel's own loopback transport (CID 1) carries
    the connection instead: the same AF_VSOCK sockets, listen, accept and fork."""
    code, _, err = c.guest("modprobe vsock_loopback")
    c.check(code == 0, f"the guest kernel cannot load vsock_loopback: {err.strip()[:200]}")
    agent = c.guest_ok("for p in /usr/sbin/guestkit-agent /usr/local/sbin/guestkit-agent; do "
                       "[ -x $p ] && echo $p && break; done").strip()
    c.check(agent != "", "guestkit-agent is not installed in the guest")
    unit = "guestkit-e2e-vsock"
    c.guest_ok(f"systemd-run --unit={unit} --collect {agent} --listen vsock:{VSOCK_PORT}")
    c.say(f"guest$ systemd-run --unit={unit} {agent} --listen vsock:{VSOCK_PORT}")
    try:
        ctl = f"PATH=/usr/local/bin:/usr/bin:$PATH guestkit-ctl --connect vsock:1:{VSOCK_PORT}"

        def greeted():
            code, out, _ = c.guest(f"{ctl} --json info")
            return out if code == 0 else None
        out, waited = c.poll("a greeting over vsock", greeted, 30, 0.5)
        c.measure("agent listening on vsock, first greeting", waited)
        greeting = json.loads(out)
        c.say(f"clear greeting over vsock: protocol {greeting.get('guestkit_agent')}, "
              f"instance {greeting.get('instance_id')}, provisioned {greeting.get('provisioned')}")
        c.check(len(greeting.get("challenge", "")) == 64, f"no challenge in the greeting: {out[:300]}")
        # A sealed op with the guest's own key, then the agent's log of the peer.
        code, out = c.show(f"{ctl} --key /etc/guestkit/agent.key --json status")
        c.check(code == 0, f"a sealed status over vsock failed: {out.strip()[:300]}")
        answer = json.loads(out)
        c.check(answer.get("ok") is True, f"the sealed status was not ok: {out.strip()[:300]}")
        code, out = c.show(f"journalctl -b -o cat --no-pager -t guestkit -u {unit} "
                           "| grep -c 'guestkit-agent: connection from vsock:1:'")
        c.check(code == 0 and int(out.strip() or 0) >= 2,
                "the agent's log does not name the vsock peers (vsock:1:PORT)")
    finally:
        c.guest(f"systemctl stop {unit}")


# ----------------------------------------------------------------------------------
# 3. disk


def _data_disk(c, name, label, content):
    img = c.vm.path(f"disk-{name}.img")
    src = c.vm.path(f"disk-{name}.d")
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(src)
    with open(os.path.join(src, "hello.txt"), "w", encoding="utf-8") as f:
        f.write(content + "\n")
    with open(img, "wb") as f:
        f.truncate(64 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", label, "-d", src, img], check=True)
    shutil.rmtree(src)
    return img


def _attach_disk(c, qmp, name, img):
    qmp.execute("blockdev-add", **{"node-name": f"e2e-{name}", "driver": "raw",
                                   "file": {"driver": "file", "filename": img}})
    qmp.execute("device_add", driver="virtio-blk-pci", id=f"e2e-{name}", drive=f"e2e-{name}", serial=f"e2e-{name}")
    c.say(f"qmp: blockdev-add + device_add virtio-blk-pci (serial e2e-{name}, ext4 label 'data')")
    return time.monotonic()


def _mounted_at(c, dev):
    _, out, _ = c.guest(f"findmnt -rn -S {dev} -o TARGET")
    return out.strip()


def disk(c):
    problems = []
    with c.vm.qmp() as qmp:
        disks = {}
        for name, expect in (("data1", "/srv/data"), ("data2", "/srv/data_2")):
            img = _data_disk(c, name, "data", f"hello from {name}")
            t = _attach_disk(c, qmp, name, img)
            dev, _ = c.poll(f"/dev/disk/by-id/virtio-e2e-{name} in the guest",
                            lambda n=name: c.guest(f"readlink -e /dev/disk/by-id/virtio-e2e-{n}")[1].strip(), 60)
            target, _ = c.poll(f"{dev} mounted by guestkit", lambda d=dev: _mounted_at(c, d), 90)
            c.measure(f"device_add -> {dev} mounted at {target}", time.monotonic() - t)
            disks[name] = (dev, target)
            if target != expect:
                problems.append(f"{name} ({dev}) mounted at {target}, expected {expect}")
            c.show(f"cat {target}/hello.txt; systemctl is-active guestkit-disk@{dev[5:]}.service; "
                   f"findmnt -n -o SOURCE,TARGET,FSTYPE,OPTIONS {target}")
            # The udev rule hands the work to the unit (udevd's sandbox cannot mount).
            code, _, _ = c.guest(f"systemctl -q is-active guestkit-disk@{dev[5:]}.service")
            if code != 0:
                problems.append(f"guestkit-disk@{dev[5:]}.service is not active while {dev} is mounted")
            hook = [h for h in c.hooks() if h.startswith("post-disk-attach") and dev in h and target in h]
            c.say(f"hook: {hook[0] if hook else 'post-disk-attach NOT run'}")
            if not hook:
                problems.append(f"post-disk-attach did not run for {dev} at {target}")
        c.show("guestkit-disk --status")

        for name in ("data1", "data2"):
            dev, target = disks[name]
            t = time.monotonic()
            c.unplug(qmp, f"e2e-{name}")
            qmp.execute("blockdev-del", **{"node-name": f"e2e-{name}"})

            def gone(d=dev, tg=target):
                _, out, _ = c.guest(f"findmnt -rn {tg} >/dev/null && echo mounted; test -e {tg} && echo exists; "
                                    f"test -e {d} && echo device; "
                                    f"systemctl -q is-active guestkit-disk@{d[5:]}.service && echo unit; true")
                return out.strip() == ""
            try:
                _, _ = c.poll(f"{target} unmounted, removed and its unit stopped after {dev} went", gone, 90)
                c.measure(f"device_del -> {target} unmounted and its directory gone", time.monotonic() - t)
            except Fail as e:
                problems.append(str(e))
            hook = [h for h in c.hooks() if h.startswith("pre-disk-detach") and dev in h]
            c.say(f"hook: {hook[-1] if hook else 'pre-disk-detach NOT run'}")
            if not hook:
                problems.append(f"pre-disk-detach did not run for {dev}")
            os.unlink(c.vm.path(f"disk-{name}.img"))
    c.show("ls -A /srv; guestkit-disk --status")
    if problems:
        raise Fail("; ".join(problems))


# ----------------------------------------------------------------------------------
# 4. NIC

NIC_MAC = "52:54:00:e2:e0:01"


def _iface_by_mac(c, mac):
    _, out, _ = c.guest(f"grep -il '^{mac}$' /sys/class/net/*/address 2>/dev/null | cut -d/ -f5")
    return out.strip()


def _default_routes(c):
    """[(metric, dev)] of the guest's IPv4 default routes, best first."""
    _, out, _ = c.guest("ip -4 route show default")
    routes = []
    for line in out.splitlines():
        dev = re.search(r"\bdev (\S+)", line)
        metric = re.search(r"\bmetric (\d+)", line)
        if dev:
            routes.append((int(metric.group(1)) if metric else 0, dev.group(1)))
    return sorted(routes)


def nic(c):
    problems = []
    first, _ = c.poll("the boot NIC in the guest", lambda: _iface_by_mac(c, vmmod.BOOT_NIC_MAC), 30)
    c.show("ip -4 -br addr; ip -4 route show default")
    with c.vm.qmp() as qmp:
        t = time.monotonic()
        qmp.execute("netdev_add", type="user", id="e2e-net1", net="10.0.3.0/24", restrict=True)
        qmp.execute("device_add", driver="virtio-net-pci", id="e2e-nic1", netdev="e2e-net1", mac=NIC_MAC, romfile="")
        c.say("qmp: netdev_add user (restrict, 10.0.3.0/24) + device_add virtio-net-pci")
        name, _ = c.poll("the new NIC in the guest", lambda: _iface_by_mac(c, NIC_MAC), 60)
        c.measure(f"device_add -> {name} present", time.monotonic() - t)

        def lease():
            _, out, _ = c.guest(f"ip -4 -o addr show dev {name}")
            m = re.search(r"inet (10\.0\.3\.\d+)/", out)
            return m.group(1) if m else None
        addr, _ = c.poll(f"a DHCP lease on {name} from QEMU's server", lease, 90)
        c.measure(f"device_add -> {name} has {addr} by DHCP", time.monotonic() - t)
        c.show(f"systemctl is-active guestkit-iface@{name}.service guestkit-dhcp@{name}.service; "
               "ip -4 route show default; guestkit-iface --status")
        routes = _default_routes(c)
        if not routes or routes[0][1] != first:
            problems.append(f"the default route is not on the first NIC {first}: {routes}")
        else:
            c.say(f"default route: best via {first} (metric {routes[0][0]}); all: {routes}")
        hook = [h for h in c.hooks() if h == f"post-iface-attach {name}"]
        c.say(f"hook: {hook[0] if hook else 'post-iface-attach NOT run'}")
        if not hook:
            problems.append(f"post-iface-attach did not run for {name}")

        t = time.monotonic()
        c.unplug(qmp, "e2e-nic1")
        qmp.execute("netdev_del", id="e2e-net1")

        left = {}

        def cleaned():
            _, out, _ = c.guest(f"test -e /sys/class/net/{name} && echo present; "
                                f"systemctl -q is-active guestkit-iface@{name}.service && echo iface-unit; "
                                f"systemctl -q is-active guestkit-dhcp@{name}.service && echo dhcp-unit; "
                                f"ls /run/guestkit/iface/ 2>/dev/null | grep -F '{name}'; "
                                f"pgrep -af 'dhclien[t].*{name}'; true")
            left["out"] = out.strip()
            return "clean" if out.strip() == "" else None
        try:
            c.poll(f"{name} gone with its unit, DHCP client and state", cleaned, 60)
            c.measure(f"device_del -> {name} cleaned up", time.monotonic() - t)
        except Fail as e:
            problems.append(f"{e}; still there: {left.get('out')!r}")
        routes = _default_routes(c)
        if not routes or routes[0][1] != first:
            problems.append(f"after the unplug, the default route is not on {first}: {routes}")
        hook = [h for h in c.hooks() if h == f"pre-iface-detach {name}"]
        c.say(f"hook: {hook[0] if hook else 'pre-iface-detach NOT run'}")
        if not hook:
            problems.append(f"pre-iface-detach did not run for {name}")
    c.show("ip -4 -br addr; ip -4 route show default")
    if problems:
        raise Fail("; ".join(problems))


# ----------------------------------------------------------------------------------
# 5. vCPU


def _cpus(c):
    _, out, _ = c.guest("cat /sys/devices/system/cpu/present /sys/devices/system/cpu/online")
    lines = out.split()
    return tuple(lines) if len(lines) == 2 else ("?", "?")


def vcpu(c):
    c.show("nproc; cat /sys/devices/system/cpu/online")
    with c.vm.qmp() as qmp:
        slots = qmp.execute("query-hotpluggable-cpus")
        free = [s for s in slots if "qom-path" not in s]
        c.check(free, f"QEMU offers no free CPU slot: {slots}")
        slot = sorted(free, key=lambda s: sorted(s["props"].items()))[0]
        before = _cpus(c)
        t = time.monotonic()
        qmp.execute("device_add", driver=slot["type"], id="e2e-cpu1", **slot["props"])
        c.say(f"qmp: device_add {slot['type']} {slot['props']}")

        def online():
            present, on = _cpus(c)
            return (present, on) if present != before[0] and present == on else None
        (present, on), _ = c.poll("the new vCPU online (present == online)", online, 60, 0.1)
        c.measure(f"device_add -> CPUs present {present}, online {on}", time.monotonic() - t)
    code, out = c.show("nproc; cat /sys/devices/system/cpu/cpu1/online")
    c.check(out.split() == ["2", "1"], f"expected 2 CPUs with cpu1 online, got {out.split()}")
    c.show("journalctl -o cat -t guestkit --no-pager | grep -i cpu | tail -n 3")


# ----------------------------------------------------------------------------------
# 6. memory


def _memory(c):
    _, out, _ = c.guest("awk '/^MemTotal:/ { print $2 }' /proc/meminfo; "
                        "for b in /sys/devices/system/memory/memory*; do "
                        "echo \"${b##*/} $(cat $b/state) $(cat $b/valid_zones 2>/dev/null)\"; done")
    lines = out.splitlines()
    total_kib = int(lines[0]) if lines and lines[0].isdigit() else 0
    blocks = {}
    for line in lines[1:]:
        parts = line.split()
        if len(parts) >= 2:
            blocks[parts[0]] = (parts[1], " ".join(parts[2:]))
    return total_kib, blocks


def memory(c):
    c.show("free -m; cat /sys/devices/system/memory/auto_online_blocks")
    total0, blocks0 = _memory(c)
    with c.vm.qmp() as qmp:
        t = time.monotonic()
        qmp.execute("object-add", **{"qom-type": "memory-backend-ram", "id": "e2e-mem1", "size": 256 << 20})
        qmp.execute("device_add", driver="pc-dimm", id="e2e-dimm1", memdev="e2e-mem1")
        c.say("qmp: object-add memory-backend-ram 256M + device_add pc-dimm")

        seen = {}

        def onlined():
            total, blocks = _memory(c)
            new = {b: s for b, s in blocks.items() if b not in blocks0}
            seen.update(total=total, new=new)
            if len(new) >= 2 and all(st == "online" for st, _ in new.values()):
                return total, new
            return None
        (total, new), _ = c.poll("the DIMM's memory blocks online", onlined, 120, 0.25)
        c.measure(f"device_add -> {len(new)} new blocks online", time.monotonic() - t)
        # MemTotal follows the state files by a moment.
        try:
            c.poll("MemTotal grown by the DIMM", lambda: _memory(c)[0] - total0 >= 200 * 1024, 30, 0.25)
        except Fail:
            pass
        total, _ = _memory(c)
    c.show("free -m")
    gained = (total - total0) // 1024
    zones = sorted({z for _, z in new.values()})
    c.say(f"MemTotal {total0 // 1024} -> {total // 1024} MiB (+{gained} MiB); "
          f"new blocks {sorted(new)}; their zone: {zones}")
    c.check(gained >= 200, f"MemTotal grew by {gained} MiB only (a 256 MiB DIMM was added)")
    # The default policy (memory.online_policy: auto, movable_ratio 3) puts 256 MiB next
    # to ~512 MiB of kernel memory into ZONE_MOVABLE, so the platform can unplug it again.
    c.check(zones == ["Movable"], f"the new blocks are not in ZONE_MOVABLE as the default policy says: {zones}")


# ----------------------------------------------------------------------------------
# 7. the agent over the virtio-serial port, with the guest's network down


SERIAL_UNIT = "guestkit-agent-virtio.service"
SERIAL_PORT = "/dev/virtio-ports/org.guestkit.agent.0"


def _agent_cpu_ticks(c, pid):
    """utime + stime of the guest process PID, in clock ticks."""
    _, out, _ = c.guest(f"cut -d')' -f2- /proc/{pid}/stat")
    fields = out.split()
    # After "(comm)": state is field 3, utime 14, stime 15.
    return int(fields[11]) + int(fields[12]) if len(fields) > 12 else None


def _idle_cpu(c, pid, what, seconds=5):
    before = _agent_cpu_ticks(c, pid)
    time.sleep(seconds)
    after = _agent_cpu_ticks(c, pid)
    c.check(before is not None and after is not None, f"cannot read /proc/{pid}/stat in the guest")
    used = after - before
    c.say(f"agent CPU while idle, {what}: {used} ticks (1/100 s) in {seconds} s")
    c.check(used <= 3, f"the serial agent used {used} ticks of CPU in {seconds} s while idle ({what}): "
            "it spins")


def serial(c):
    """guestkit-agent on its virtio-serial port (udev starts guestkit-agent-virtio.service)
    serves sealed orders from guestkit-ctl --connect serial:SOCKET with the guest's
    network down: the platform's channel through the hypervisor."""
    ctl = _find_ctl()
    c.check(ctl is not None, "guestkit-ctl is not built")
    sock = c.vm.state.get("agent_serial")
    c.check(bool(sock) and os.path.exists(sock), "QEMU has no host socket for org.guestkit.agent.0")
    key = c.vm.path("image", "agent.key")
    instance = open(c.vm.path("image", "instance-id"), encoding="utf-8").read().strip()

    def unit_up():
        _, out, _ = c.guest(f"systemctl show {SERIAL_UNIT} -p ActiveState -p MainPID -p NRestarts")
        props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        return props if props.get("ActiveState") == "active" and props.get("MainPID", "0") != "0" else None
    props, _ = c.poll(f"{SERIAL_UNIT} active in the guest (started by udev for {SERIAL_PORT})", unit_up, 60)
    pid = props["MainPID"]
    c.show(f"readlink -f {SERIAL_PORT}; systemctl status --no-pager -n 0 {SERIAL_UNIT} | head -n 5")
    _idle_cpu(c, pid, "no host on the port")

    nic = _iface_by_mac(c, vmmod.BOOT_NIC_MAC)
    c.check(nic != "", "the boot NIC is not in the guest")
    c.guest_ok(f"ip link set dev {nic} down")
    c.say(f"guest$ ip link set dev {nic} down   (through qemu-guest-agent)")
    problems = []
    try:
        code, out = c.show(f"ip -br link show dev {nic}; ip -4 route show default")
        c.check(" DOWN " in f" {out} " and "default" not in out, f"{nic} is not down: {out.strip()}")

        def ctl_run(*args, timeout=120):
            argv = [ctl, "--connect", f"serial:{sock}", "--key", key, "--timeout", "60s", *args]
            shown = " ".join(os.path.relpath(a, vmmod.SRC) if a.startswith(vmmod.SRC) else a for a in argv)
            t = time.monotonic()
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
            took = time.monotonic() - t
            c.say(f"host$ {shown} -> exit {p.returncode} in {took:.2f} s")
            for line in (p.stdout + p.stderr).rstrip().splitlines()[:12]:
                print(f"    {line}")
            return p, took

        p, took = ctl_run("--json", "info")
        c.measure("serial: first session (port opened by the host, resync, greeting, sealed info)", took)
        c.check(p.returncode == 0, f"info over the serial port failed: {p.stderr.strip()[:300]}")
        info = json.loads(p.stdout)
        c.check(info.get("result", {}).get("instance_id") == instance,
                f"the agent on the port is not instance {instance}: {p.stdout[:300]}")

        p, took = ctl_run("--json", "status")
        c.measure("serial: sealed status, a second session", took)
        if p.returncode != 0 or json.loads(p.stdout or "{}").get("ok") is not True:
            problems.append(f"status over the serial port failed: {(p.stdout + p.stderr).strip()[:300]}")

        # A platform that crashed mid-session: a resync, then half a sealed line, then gone.
        t = time.monotonic()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(sock)
            s.sendall(b'\xff{"guestkit_sync":"crashed-host"}\n{"nonce": "00112233445566778899aabb", "box": "QU')
            time.sleep(0.5)
        c.say("host: a resync and half a request, then the connection dropped (a crashed platform)")

        _, before, _ = c.guest("hostname")
        p, took = ctl_run("set-hostname", "e2e-over-serial")
        c.measure("serial: set-hostname after a crashed session (sealed, through the plugins)", took)
        _, now, _ = c.guest("hostname; cat /etc/hostname")
        c.say(f"guest hostname: {before.strip()} -> {' / '.join(now.split())}")
        if p.returncode != 0 or now.split() != ["e2e-over-serial", "e2e-over-serial"]:
            problems.append(f"set-hostname over the serial port: exit {p.returncode}, guest says {now.split()}")
        total = time.monotonic() - t
        c.measure("serial: crashed session + set-hostname, end to end", total)
        if before.strip():
            ctl_run("set-hostname", before.strip())

        wrong = c.vm.path("serial-wrong.key")
        with open(os.open(wrong, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as f:
            f.write(secrets.token_hex(32) + "\n")
        argv = [ctl, "--connect", f"serial:{sock}", "--key", wrong, "--timeout", "60s", "set-hostname", "intruder"]
        p2 = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        os.unlink(wrong)
        c.say(f"host$ guestkit-ctl --connect serial:... --key WRONG set-hostname intruder -> exit "
              f"{p2.returncode}: {p2.stderr.strip()[:200]}")
        _, now, _ = c.guest("hostname")
        if p2.returncode == 0 or now.strip() == "intruder":
            problems.append("a wrong key was obeyed over the serial port")

        code, out = c.show(f"journalctl -b -o cat --no-pager -u {SERIAL_UNIT} | grep -E "
                           "'session with virtio port|refused|does not authenticate' | tail -n 12")
        if "session with virtio port" not in out:
            problems.append("the agent's log does not name the virtio port's sessions")
    finally:
        t = time.monotonic()
        c.guest_ok(f"ip link set dev {nic} up")
        c.say(f"guest$ ip link set dev {nic} up")
        # The link going down took its routes; the NIC's DHCP client (a unit of
        # guestkit-iface) gets them back when it starts again.
        _, out, _ = c.guest(f"ip -4 route show default dev {nic}")
        if not out.strip():
            c.show(f"systemctl try-restart guestkit-dhcp@{nic}.service; "
                   f"systemctl is-active guestkit-dhcp@{nic}.service")

        def route_back():
            _, out, _ = c.guest(f"ip -4 route show default dev {nic}")
            return out.strip() or None
        try:
            route, _ = c.poll(f"a default route on {nic} again", route_back, 90, 2)
            c.measure(f"network restored ({route})", time.monotonic() - t)
        except Fail as e:
            problems.append(str(e))

    props = unit_up() or {}
    c.say(f"{SERIAL_UNIT}: MainPID {props.get('MainPID')}, restarts {props.get('NRestarts')}")
    if props.get("MainPID") != pid:
        problems.append(f"the serial agent was restarted (pid {pid} -> {props.get('MainPID')})")
    _idle_cpu(c, pid, "after the sessions, host gone again")
    if problems:
        raise Fail("; ".join(problems))


# One row per scenario, in the order they run: name -> (title, story, function). The
# story is what `tests/e2e/run demo` tells before the scenario (scripts/demo); keeping
# all three in one row is what makes a scenario without its story impossible (the demo
# once died with KeyError: 'vsock' because the story lived in a second table).
SCENARIOS = {
    "boot": ("boot: guestkit's boot stages ran, every plugin ok, swap on a blank disk",
             "At every boot, systemd runs guestkit's four stages: bootstrap (swap on the blank "
             "disk), mount (coldplug of what is attached), config, postboot. Each plugin is timed "
             "and reported.", boot),
    "provision": ("provision: an order through inetd, then ssh as the new admin with sudo",
                  "The platform sends its first order with guestkit-ctl: through the forwarded port, "
                  "inetd spawns guestkit-agent, which sets the root password, creates the admin with "
                  "sudo and two ssh keys, sets the hostname, and then closes its port for good.",
                  provision),
    "vsock": ("vsock: the agent's own listener (--listen vsock:PORT), sealed status",
              "Without inetd: the agent listens on vsock itself, the hypervisor's socket family "
              "(here the guest kernel's loopback transport), greets in clear and serves a sealed "
              "status to the holder of the VM's key.", vsock),
    "disk": ("disk: hotplug two data disks labelled 'data', then unplug them",
             "The platform attaches a disk whose ext4 label is 'data': udev starts "
             "guestkit-disk@.service, which mounts it at /srv/data and runs the post-disk-attach "
             "hook. A second 'data' disk goes to /srv/data_2. Detaching them unmounts and cleans up.",
             disk),
    "nic": ("NIC: hotplug a second NIC, DHCP, default route stays, then unplug",
            "A second NIC: guestkit-iface brings it up, runs a DHCP client in a unit, keeps the "
            "default route on the first NIC, and undoes it all when the NIC goes away.", nic),
    "memory": ("memory: hotplug a 256 MiB DIMM, blocks onlined by policy",
               "A 256 MiB DIMM arrives as offline memory blocks; guestkit-memory onlines them, "
               "in ZONE_MOVABLE so that the platform can take them back.", memory),
    "vcpu": ("vCPU: hotplug a CPU, onlined by guestkit-cpu",
             "A vCPU arrives offline; guestkit-cpu, run straight from the udev rule, brings it online.",
             vcpu),
    "serial": ("serial: sealed orders over the virtio-serial port with the guest's network down",
               "The platform's channel through the hypervisor: udev started guestkit-agent on the "
               "port org.guestkit.agent.0; with the guest's NIC down, guestkit-ctl sends sealed "
               "orders through QEMU's socket for that port, each session starting with a resync, "
               "even after a platform that crashed mid-session.", serial),
}
# The scenarios of each VM variant (vm.VARIANTS), in their run order; every scenario
# belongs to exactly one variant (the harness check says so).
ORDERS = {
    "default": ["boot", "provision", "vsock", "disk", "nic", "memory", "vcpu", "serial"],
}
ORDER = ORDERS["default"]


def run(vm, name):
    """Runs one scenario; prints PASS/FAIL with its time and, on failure, diagnostics.
    Returns (ok, seconds, message)."""
    title, _, fn = SCENARIOS[name]
    c = Context(vm, name)
    print(f"==== e2e {title}", flush=True)
    message = ""
    try:
        fn(c)
        ok = True
    except Fail as e:
        ok, message = False, str(e)
    except CommandError as e:
        ok, message = False, f"QMP: {e}"
    except Exception as e:  # noqa: BLE001 - a harness crash is a failure with its reason
        ok, message = False, f"{type(e).__name__}: {e}"
    seconds = time.monotonic() - c.t0
    if not ok:
        print(f"FAIL: {message}", flush=True)
        diagnostics(vm, name)
    print(f"==== e2e.{name}: {'PASS' if ok else 'FAIL'} in {seconds:.1f} s", flush=True)
    return ok, seconds, message


def diagnostics(vm, name):
    if not vm.running():
        print(f"-- QEMU is not running any more; its log:\n{vmmod.tail(vm.path('qemu.log'), 20)}")
    journal, ours = vm.journal(name) if vm.running() else (None, [])
    print(f"-- diagnostics kept in {vm.workdir}")
    print(f"-- serial console (console.log), last lines:\n{vmmod.tail(vm.path('console.log'), 30)}")
    print(f"-- QMP and guest-agent transcript (qmp.log), last lines:\n{vmmod.tail(vm.transcript, 15)}")
    if journal:
        print(f"-- guest journal (whole boot in {os.path.relpath(journal, vm.workdir)}), its last lines about "
              f"guestkit and inetd:\n" + "\n".join(ours[-40:]), flush=True)
