"""The e2e guest's lifecycle: build its image, boot it under QEMU, find it again from
another process (state.json), collect diagnostics, kill it by PID.

Layout of the work dir (under the build dir, kept after the run for diagnostics):
  image/          build-image output (root.img, vmlinuz, initrd.img, agent.key, ...)
  root.qcow2      this boot's overlay on image/root.img
  swap.img        the blank disk attached at boot (GPT, one partition named "swap")
  console.log     the serial console
  qmp.log         every QMP and guest-agent line, timestamped
  qemu.log        QEMU's own stdout/stderr
  state.json      pid, sockets, forwarded ports, accelerator, timings
  diag/           per-scenario diagnostics (guest journal, ...)
The sockets live in a short temp dir /tmp/guestkit-test.e2e-* (unix socket paths
are limited to 107 bytes), removed by teardown.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import seed_media
from qmp import QMP, GuestAgent

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
QEMU = "qemu-system-x86_64"
READY_MARK = "GUESTKIT-E2E-READY"
BOOT_NIC_MAC = "52:54:00:12:34:56"
AGENT_PORT = 7391


# Variants: other first boots of the guest, each a ctest group of its own with its own
# work dir and VM (tests/CMakeLists.txt guestkit_e2e_group), its scenarios listed in
# scenarios.ORDERS[name]. A row may say:
#   image:  build-image's flavour (GUESTKIT_E2E_FLAVOUR; "bookworm" when absent)
#   smp:    QEMU's -smp value ("1,maxcpus=4" when absent)
#   append: more kernel command line
#   extra:  a function (vm) -> list of more QEMU arguments, called before QEMU starts; it
#           may make files (seed images...) in vm.workdir, which teardown leaves for
#           diagnostics unless they match the disk-*.img pattern
#   swap:   False for no blank swap disk at boot
#   mq_tap: a netdev "mq0" of MQ_QUEUES queues (a multiqueue tap in a network namespace
#           of its own, with a DHCP server: mqtap.py), for a scenario to plug a
#           multiqueue virtio-net into
#   mq_tap_router: the mq_tap's DHCP server names a router (198.51.100.1)
#   swap_hook: a function (vm, swap_image_path) called after the blank swap disk is made
#           (it may write a seed into it)
#   agent_serial: the virtio-serial port org.guestkit.agent.0 (host side: the unix
#           socket state["agent_serial"]); on by default in the default variant only
#   log:    a guest without journald: the file its syslog daemon writes, which
#           diagnostics read instead of `journalctl -b`
VARIANTS = {
    # 2 vCPUs so that a multiqueue NIC has queues to spread over (scenarios.nic_mq).
    "default": {"smp": "2,maxcpus=4", "mq_tap": True},
    # systemd-networkd (in Debian's systemd, disabled there) enabled for this boot only,
    # on the net-nm image (it has D-Bus, which networkctl needs) with NetworkManager
    # masked: no third image to build.
    "net-networkd": {"image": "net-nm", "swap": False,
                     "append": "systemd.mask=NetworkManager.service systemd.wants=systemd-networkd.service"},
    # The image with NetworkManager installed and managing (build-image flavour).
    "net-nm": {"image": "net-nm", "swap": False},
    # Debian 12 without systemd (build-image flavour sysvinit): sysvinit-core as PID 1,
    # the sysv scripts run the stages, udev runs the helpers, openbsd-inetd the agent.
    # "log": where the guest's log is read without a journal.
    "sysvinit": {"image": "sysvinit", "log": "/var/log/syslog"},
    # NetworkManager keeps the boot NIC and leaves hot-added ones unmanaged (build-image
    # flavour net-nm-guestkit): guestkit's own nmcli connection brings them up.
    # Its mq tap's DHCP server names a router: a second public NIC with a default route
    # that the route policy takes away through guestkit's connection.
    "net-nm-guestkit": {"image": "net-nm-guestkit", "swap": False, "mq_tap": True,
                        "mq_tap_router": True},
}
MQ_QUEUES = 2
# The boot NIC's QEMU network: TEST-NET-1, which guestkit's route policy counts as public
# (only RFC 1918, loopback, link-local and 0/8 are private), so that a private NIC
# plugged later must lose its default route to it. restrict=on: it never leaves QEMU.
BOOT_NET = "192.0.2.0/24"
# Issue 15's first boots from a platform seed (seed-*): tests/e2e/seed_media.py.
VARIANTS.update(seed_media.VARIANTS)
# Issue 19: Debian 13 (trixie), its own systemd and kernel, in ONE first boot (a fresh
# boot costs CI about a minute under TCG): the NoCloud seed of seed-nocloud is on the
# cdrom at that first boot, so the same boot proves the seed on trixie
# (scenarios.ORDERS["trixie"], "trixie-seed"), then the platform gives the VM a new
# instance id and the agent provisions that over inetd; disk, NIC, memory and vCPU
# hotplug follow on the same guest.
VARIANTS["trixie"] = {"image": "trixie", "extra": seed_media.nocloud_args}


class NotRun(Exception):
    """The tier cannot run here (QEMU itself unusable): reported as a named skip."""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, lines=40):
    try:
        with open(path, "rb") as f:
            data = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(data[-lines:])
    except OSError as e:
        return f"({path}: {e.strerror})"


def _alive(pid, marker):
    """Whether pid is still our QEMU (its command line names our socket dir)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return marker.encode() in f.read()
    except OSError:
        return False


class VM:
    def __init__(self, workdir, variant="default"):
        if variant not in VARIANTS:
            raise ValueError(f"unknown e2e variant {variant!r}: one of {', '.join(VARIANTS)}")
        self.workdir = os.path.abspath(workdir)
        self.variant = variant
        self.spec = VARIANTS[variant]
        self.state_path = os.path.join(self.workdir, "state.json")
        self.state = {}
        self.tap_fds = []

    # -------- state shared between the ctest processes --------
    def load(self):
        with open(self.state_path, encoding="utf-8") as f:
            self.state = json.load(f)
        return self.state

    def save(self):
        tmp = self.state_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.state, f, indent=2)
        os.replace(tmp, self.state_path)

    def path(self, *names):
        return os.path.join(self.workdir, *names)

    @property
    def transcript(self):
        return self.path("qmp.log")

    def qmp(self, timeout=30):
        return QMP(self.state["qmp"], self.transcript, timeout)

    def qga(self, timeout=10):
        return GuestAgent(self.state["qga"], self.transcript, timeout)

    def running(self):
        pid = self.state.get("pid")
        return bool(pid) and _alive(pid, self.state.get("sockdir", "\0"))

    # -------- checks before anything is built --------
    @staticmethod
    def check_qemu():
        """Raises NotRun when QEMU cannot run a TCG machine at all (the machine's
        fault); a missing QEMU is scripts/setup's fault, so a failure, not a skip."""
        if shutil.which(QEMU) is None:
            raise RuntimeError(f"{QEMU} is not installed (scripts/setup installs qemu-system-x86)")
        if shutil.which("qemu-img") is None:
            raise RuntimeError("qemu-img is not installed (scripts/setup installs qemu-utils)")
        try:
            p = subprocess.run([QEMU, "-nodefaults", "-display", "none", "-machine", "pc", "-accel", "tcg",
                                "-S", "-monitor", "none", "-qmp", "stdio"], input=b'{"execute":"qmp_capabilities"}\n'
                               b'{"execute":"quit"}\n', capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise NotRun(f"{QEMU} did not answer a quit within 60 s") from None
        if p.returncode != 0:
            raise NotRun(f"{QEMU} cannot start a TCG machine: {p.stderr.decode(errors='replace').strip()[:300]}")

    def probe_kvm(self, kernel):
        """'kvm' only when a real KVM module is loaded and a short trial boot gets the
        kernel to print on the console; otherwise 'tcg' ('/dev/kvm' alone proved
        useless under nested virtualisation)."""
        if os.environ.get("GUESTKIT_E2E_ACCEL") in ("tcg", "kvm"):
            return os.environ["GUESTKIT_E2E_ACCEL"], "forced by GUESTKIT_E2E_ACCEL"
        modules = [m for m in ("kvm_intel", "kvm_amd") if os.path.isdir(f"/sys/module/{m}")]
        if not modules:
            return "tcg", "no kvm_intel or kvm_amd module loaded"
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            return "tcg", "/dev/kvm not usable"
        log = self.path("kvm-probe.log")
        cmd = [QEMU, "-nodefaults", "-display", "none", "-machine", "pc", "-accel", "kvm", "-cpu", "host",
               "-m", "256M", "-kernel", kernel, "-append", "console=ttyS0 panic=-1", "-no-reboot",
               "-serial", f"file:{log}"]
        with open(os.devnull, "wb") as null:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=null, stderr=null, start_new_session=True)
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if "Linux version" in tail(log, 200):
                    return "kvm", f"{'/'.join(modules)} loaded and a trial boot printed the kernel banner"
                if p.poll() is not None:
                    return "tcg", f"trial KVM boot exited with {p.returncode}"
                time.sleep(0.2)
            return "tcg", "trial KVM boot printed nothing in 15 s"
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()

    # -------- build and boot --------
    def build_image(self, log):
        env = dict(os.environ)
        env.setdefault("GUESTKIT_BUILD_DIR", os.path.join(SRC, "build"))
        env["GUESTKIT_E2E_FLAVOUR"] = self.spec.get("image", "bookworm")
        t0 = time.monotonic()
        p = subprocess.run([os.path.join(SRC, "tests", "e2e", "build-image"), self.path("image")],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in p.stdout.splitlines():
            log(line)
        if p.returncode == 77:
            raise NotRun("build-image cannot run here: " + (p.stdout.strip().splitlines() or ["?"])[-1])
        if p.returncode != 0:
            raise RuntimeError(f"build-image failed (exit {p.returncode}); see {self.path('image', 'build-image.log')}")
        return time.monotonic() - t0

    def make_disks(self):
        base = self.path("image", "root.img")
        overlay = self.path("root.qcow2")
        if os.path.exists(overlay):
            os.unlink(overlay)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", overlay], check=True)
        # A blank disk for swap: a GPT with one Linux-swap partition named "swap" whose
        # content is all zero, which the bootstrap stage formats and enables.
        swap = self.path("swap.img")
        with open(swap, "wb") as f:
            f.truncate(256 << 20)
        subprocess.run(["sfdisk", "-q", swap], input="label: gpt\nstart=2048, type=swap, name=swap\n",
                       text=True, check=True, stdout=subprocess.DEVNULL)
        if self.spec.get("swap_hook"):
            self.spec["swap_hook"](self, swap)
        return overlay, swap

    def command(self, accel, overlay, swap):
        s = self.state
        cpu = "host" if accel == "kvm" else "max"
        fwd = (f"hostfwd=tcp:127.0.0.1:{s['ssh_port']}-:22,"
               f"hostfwd=tcp:127.0.0.1:{s['agent_port']}-:{AGENT_PORT}")
        spec = self.spec
        append = "console=ttyS0 root=/dev/vda rw tsc=reliable panic=-1"
        if spec.get("append"):
            append += " " + spec["append"]
        swap_args = [
            "-blockdev", f"driver=raw,node-name=swap,file.driver=file,file.filename={swap}",
            "-device", "virtio-blk-pci,drive=swap,id=swapdisk,serial=e2e-swap",
        ] if spec.get("swap", True) else []
        # guestkit-agent's own virtio-serial port, next to qemu-guest-agent's on vser0:
        # the platform's channel that needs no guest network (scenario "serial").
        serial_args = [
            "-chardev", f"socket,id=gkagent0,path={s['agent_serial']},server=on,wait=off",
            "-device", "virtserialport,bus=vser0.0,chardev=gkagent0,name=org.guestkit.agent.0",
        ] if spec.get("agent_serial", self.variant == "default") else []
        return [
            QEMU, "-name", "guestkit-e2e", "-nodefaults", "-display", "none", "-no-user-config",
            "-machine", "pc", "-accel", accel, "-cpu", cpu,
            "-smp", spec.get("smp", "1,maxcpus=4"), "-m", "512M,slots=4,maxmem=2G",
            "-kernel", self.path("image", "vmlinuz"), "-initrd", self.path("image", "initrd.img"),
            "-append", append,
            "-no-reboot",
            "-blockdev", f"driver=qcow2,node-name=root,file.driver=file,file.filename={overlay}",
            "-device", "virtio-blk-pci,drive=root,id=rootdisk",
            *swap_args,
            "-netdev", f"user,id=n0,restrict=on,net={BOOT_NET},{fwd}",
            "-device", f"virtio-net-pci,netdev=n0,id=nic0,mac={BOOT_NIC_MAC},romfile=",
            "-device", "virtio-serial-pci,id=vser0",
            "-chardev", f"socket,id=qga0,path={s['qga']},server=on,wait=off",
            "-device", "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0",
            *serial_args,
            "-serial", f"file:{self.path('console.log')}",
            "-qmp", f"unix:{s['qmp']},server=on,wait=off",
            *(["-netdev", "tap,id=mq0,vhost=off,fds=" + ":".join(map(str, self.tap_fds))]
              if self.tap_fds else []),
            *(spec["extra"](self) if spec.get("extra") else []),
        ]

    def start_mq_tap(self, log):
        """Starts mqtap.py under `unshare --net` and returns the tap's queue descriptors."""
        if shutil.which("unshare") is None or shutil.which("dnsmasq") is None:
            raise RuntimeError("unshare or dnsmasq is not installed (scripts/setup installs them)")
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with parent, child:
            p = subprocess.Popen(["unshare", "--net", "python3", os.path.join(SRC, "tests", "e2e", "mqtap.py"),
                                  str(child.fileno()), "gkmq0", str(MQ_QUEUES), self.workdir,
                                  *(["router"] if self.spec.get("mq_tap_router") else [])],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=open(self.path("mqtap.log"), "wb"), pass_fds=(child.fileno(),),
                                 start_new_session=True)
            self.state.update(mqtap_pid=p.pid)
            self.save()
            child.close()
            parent.settimeout(30)
            try:
                _, fds, _, _ = socket.recv_fds(parent, 16, MQ_QUEUES)
            except (OSError, socket.timeout) as e:
                raise RuntimeError(f"mqtap.py sent no tap descriptors ({e}): {tail(self.path('mqtap.log'), 10)}") from None
        if len(fds) != MQ_QUEUES:
            raise RuntimeError(f"mqtap.py sent {len(fds)} descriptors, not {MQ_QUEUES}")
        log(f"multiqueue tap: {MQ_QUEUES} queues in a private network namespace, dnsmasq pid {p.pid}")
        return fds

    def boot(self, log, boot_timeout):
        os.makedirs(self.path("diag"), exist_ok=True)
        for f in ("console.log", "qmp.log", "qemu.log"):
            if os.path.exists(self.path(f)):
                os.unlink(self.path(f))
        sockdir = tempfile.mkdtemp(prefix="guestkit-test.e2e-", dir="/tmp")
        self.state.update(sockdir=sockdir, qmp=os.path.join(sockdir, "qmp.sock"),
                          qga=os.path.join(sockdir, "qga.sock"),
                          agent_serial=os.path.join(sockdir, "agent.sock"),
                          ssh_port=free_port(), agent_port=free_port())
        accel, why = self.probe_kvm(self.path("image", "vmlinuz"))
        self.state.update(accel=accel, accel_reason=why)
        log(f"accelerator: {accel} ({why})")
        overlay, swap = self.make_disks()
        self.tap_fds = self.start_mq_tap(log) if self.spec.get("mq_tap") else []
        cmd = self.command(accel, overlay, swap)
        with open(self.path("qemu.cmdline"), "w", encoding="utf-8") as f:
            f.write(" ".join(cmd) + "\n")
        t0 = time.monotonic()
        with open(self.path("qemu.log"), "wb") as out:
            # Its own session and no inherited pipes: QEMU outlives this process (the
            # ctest fixture) and must not hold ctest's output pipe open.
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True, close_fds=True, pass_fds=self.tap_fds)
        for fd in self.tap_fds:
            os.close(fd)
        self.state.update(pid=p.pid, started=time.time())
        self.save()
        log(f"QEMU pid {p.pid}; ssh on 127.0.0.1:{self.state['ssh_port']}, agent on "
            f"127.0.0.1:{self.state['agent_port']}")
        deadline = t0 + boot_timeout
        console = self.path("console.log")
        while True:
            if p.poll() is not None:
                raise RuntimeError(f"QEMU exited with {p.returncode} during boot:\n{tail(self.path('qemu.log'), 20)}")
            text = tail(console, 400)
            if READY_MARK in text:
                break
            if "Kernel panic" in text:
                raise RuntimeError("the guest kernel panicked during boot")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no '{READY_MARK}' on the console within {boot_timeout} s")
            time.sleep(0.25)
        ready = time.monotonic() - t0
        guest_uptime = None
        for line in text.splitlines():
            if READY_MARK in line:
                parts = line.split(READY_MARK, 1)[1].split()
                guest_uptime = float(parts[0]) if parts else None
        # The agent answers once its virtio port is up (it starts from udev).
        while True:
            try:
                with self.qga(timeout=10) as ga:
                    ga.execute("guest-ping")
                break
            except (OSError, TimeoutError, Exception) as e:  # noqa: B014 - any failure: retry
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the guest agent does not answer: {e}") from None
                time.sleep(0.5)
        self.state.update(boot_seconds=round(ready, 1), guest_uptime_at_ready=guest_uptime)
        self.save()
        return ready

    # -------- diagnostics --------
    def journal(self, name):
        """Saves the guest's whole journal of this boot under diag/NAME-journal.txt and
        returns that path and its lines about guestkit (units, helpers, agent) and inetd."""
        out = self.path("diag", f"{name}-journal.txt")
        # A guest without journald (sysvinit) keeps its log in the syslog daemon's file.
        cmd = (["cat", self.spec["log"]] if self.spec.get("log")
               else ["journalctl", "-b", "--no-pager", "-o", "short-monotonic"])
        try:
            with self.qga(timeout=10) as ga:
                _, text, err = ga.run(cmd, timeout=90)
        except Exception as e:  # noqa: BLE001 - diagnostics must not hide the failure
            text, err = "", f"(cannot read the guest journal: {e})"
        with open(out, "w", encoding="utf-8") as f:
            f.write(text + err)
        ours = [line for line in (text + err).splitlines()
                if re.search(r"guestkit|inetd|cannot read the guest journal", line, re.I)
                and "guest-exec called" not in line]
        return out, ours

    # -------- teardown --------
    def kill(self, log):
        pid = self.state.get("pid")
        marker = self.state.get("sockdir")
        if pid and marker and _alive(pid, marker):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _alive(pid, marker) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid, marker):
                os.kill(pid, signal.SIGKILL)
                while _alive(pid, marker):
                    time.sleep(0.1)
            log(f"QEMU pid {pid} stopped")
        # The multiqueue tap's dnsmasq (its namespace goes with it), known by its lease file.
        tap = self.state.get("mqtap_pid")
        if tap and _alive(tap, self.path("mqtap-dnsmasq.leases")):
            os.kill(tap, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _alive(tap, self.path("mqtap-dnsmasq.leases")) and time.monotonic() < deadline:
                time.sleep(0.1)
            log(f"multiqueue tap's dnsmasq pid {tap} stopped")
        # QEMU was started by an earlier process: not our child, nothing to reap; a
        # zombie would still show its cmdline as empty, which _alive treats as gone.
        if marker and marker.startswith("/tmp/guestkit-test.e2e-"):
            shutil.rmtree(marker, ignore_errors=True)
        for f in ("root.qcow2", "swap.img", "image/root.img"):
            try:
                os.unlink(self.path(f))
            except FileNotFoundError:
                pass
        for d in os.listdir(self.workdir) if os.path.isdir(self.workdir) else []:
            if d.startswith("disk-") and d.endswith(".img"):
                os.unlink(self.path(d))
