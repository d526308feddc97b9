#!/usr/bin/env python3
"""bench/run seed-first-boot: first boots of one guest image provisioned from one
NoCloud seed, by guestkit, by Debian's cloud-init, and not at all (the floor).

  seed_first_boot.py measure --work DIR --key KEY --user NAME --seed SEED.img \\
      --image guestkit=DIR --image cloudinit=DIR --image floor=DIR --runs 3 --out JSON
  seed_first_boot.py render JSON        the README section, from a recorded result

Each boot: a fresh qcow2 overlay on the kind's root.img, the seed attached read-only
as a virtio disk (to all three kinds: the same machine, only the software differs),
QEMU's restricted user network with a forwarded ssh port and a pcap of the NIC
(filter-dump). Timed from QEMU's start to the first successful `ssh USER@guest true`
with the seed's key. Nothing connects before the guest's DHCP lease is seen in the
pcap: connections made earlier queue inside QEMU's user network and arrive late
(E2E-NOTES: a 30 s boot measured as 49 s). After the lease, sshd's banner is polled
one short connection at a time (below), then ssh is tried. Then, over that ssh session, once the
boot has finished, every unit's activation time from systemd's own timestamps.
The kinds are interleaved (g, c, f, g, c, f...), so the machine's load hits all alike.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import vm as vmmod  # noqa: E402  (the e2e tier's QEMU probe: KVM only when it really works)

QEMU = "qemu-system-x86_64"
KINDS = ("guestkit", "cloudinit", "floor")
# Optional kinds, booted first in each round when their image is given:
# guestkit-networkd: the floor's image (its network: systemd-networkd and its .network
#   file for the NIC) with guestkit installed, so that its difference to the floor is
#   the provisioning alone, not the DHCP client;
# guestkit-compare: another build of guestkit (BENCH_COMPARE_BUILD), e.g. before a change.
OPTIONAL_KINDS = ("guestkit-compare", "guestkit-networkd")
TOOL_UNITS = {"guestkit": "guestkit-", "guestkit-compare": "guestkit-", "guestkit-networkd": "guestkit-",
              "cloudinit": "cloud-", "floor": None}
BOOT_TIMEOUT = 600
# How long one banner poll waits for sshd's greeting: short at first, longer on each
# try. A connection made the moment the lease is seen can reach the guest before its
# address is configured; QEMU's user network then retransmits that SYN only after its
# own timer (seen: the banner 6 s after the lease in every kind, sshd long ready), so a
# try is closed and made again rather than waited out. Longer later, so that a slow
# sshd (a busy single vCPU) still gets the time to answer.
BANNER_WAIT_FIRST = 1.0
BANNER_WAIT_STEP = 0.5
BANNER_WAIT_MAX = 10.0


def lease_seen(pcap):
    """Whether the pcap holds a DHCPACK from the server (UDP 67 -> 68, option 53 = 5)."""
    try:
        with open(pcap, "rb") as f:
            data = f.read()
    except OSError:
        return False
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 14 + 20 + 8 + 240 or pkt[12:14] != b"\x08\x00":
            continue
        ihl = (pkt[14] & 0x0F) * 4
        if pkt[14 + 9] != 17:
            continue
        udp = 14 + ihl
        sport, dport = struct.unpack_from("!HH", pkt, udp)
        if (sport, dport) != (67, 68):
            continue
        opts = udp + 8 + 236
        if pkt[opts:opts + 4] != b"\x63\x82\x53\x63":
            continue
        i = opts + 4
        while i < len(pkt) and pkt[i] != 255:
            if pkt[i] == 0:
                i += 1
                continue
            if i + 2 > len(pkt):
                break
            code, length = pkt[i], pkt[i + 1]
            if code == 53 and length == 1 and i + 2 < len(pkt) and pkt[i + 2] == 5:
                return True
            i += 2 + length
    return False


def banner(port, timeout=10.0):
    """One connection: True when sshd's banner arrives."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            data = b""
            while b"\n" not in data:
                chunk = s.recv(256)
                if not chunk:
                    break
                data += chunk
            return data.startswith(b"SSH-")
    except OSError:
        return False


def ssh_argv(port, key, user, command):
    return ["ssh", "-p", str(port), "-i", key, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=30", "-o", "LogLevel=ERROR", f"{user}@127.0.0.1", command]


# Run in the guest over ssh (as root, through sudo) once the boot has finished: the tool's units and sshd with
# systemd's monotonic timestamps (microseconds since the kernel started).
PROBE = r"""
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
timeout 300 systemctl is-system-running --wait >/dev/null 2>&1
echo "state=$(systemctl is-system-running)"
echo "analyze=$(systemd-analyze 2>/dev/null | head -n 1)"
for u in $(systemctl list-units --all --plain --no-legend 'guestkit-*' 'cloud-*' ssh.service \
           systemd-networkd.service networking.service 'ifup@*' | awk '{print $1}'); do
  systemctl show "$u" -p Id -p Type -p ActiveState -p Result -p InactiveExitTimestampMonotonic \
    -p ActiveEnterTimestampMonotonic -p CPUUsageNSec | tr '\n' ' '; echo
done
echo '--diagnostics'
systemd-analyze critical-chain ssh.service 2>&1 | tail -n +3
systemd-analyze blame 2>&1 | head -n 25
journalctl -b -o short-monotonic --no-pager -u 'guestkit-*' -u ssh.service 2>&1 | tail -n 300
if command -v guestkit-boot >/dev/null; then echo '--report'; guestkit-boot report 2>&1; fi
"""


def parse_probe(text):
    units, report, in_report = {}, [], False
    diag, in_diag = [], False
    state = analyze = ""
    for line in text.splitlines():
        if in_report:
            report.append(line)
        elif in_diag and line != "--report":
            diag.append(line)
        elif line == "--diagnostics":
            in_diag = True
        elif line == "--report":
            in_report = True
        elif line.startswith("state="):
            state = line[6:]
        elif line.startswith("analyze="):
            analyze = line[8:]
        elif " Id=" in f" {line}":  # systemctl show prints the properties in its own order
            props = dict(p.split("=", 1) for p in line.split() if "=" in p)
            start = int(props.get("InactiveExitTimestampMonotonic", "0") or 0)
            active = int(props.get("ActiveEnterTimestampMonotonic", "0") or 0)
            cpu = props.get("CPUUsageNSec", "")
            units[props["Id"]] = {
                "cpu_s": round(int(cpu) / 1e9, 3) if cpu.isdigit() else None,
                "type": props.get("Type", ""), "state": props.get("ActiveState", ""),
                "result": props.get("Result", ""),
                "start_s": round(start / 1e6, 3) if start else None,
                "active_s": round(active / 1e6, 3) if active else None,
                "activating_s": round((active - start) / 1e6, 3) if start and active >= start else None,
            }
    return state, analyze, units, report, diag


def own_unit(prefix, unit):
    """A unit of the tool measured: guestkit-* or cloud-*, not the test image's own
    boot marker (guestkit-e2e-ready.service, in every kind's image)."""
    return bool(prefix) and unit.startswith(prefix) and not unit.startswith("guestkit-e2e-")


def one_boot(kind, image, seed, key, user, workdir, accel, log):
    os.makedirs(workdir, exist_ok=True)
    overlay = os.path.join(workdir, "root.qcow2")
    if os.path.exists(overlay):
        os.unlink(overlay)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", os.path.join(image, "root.img"),
                    "-F", "raw", overlay], check=True)
    sockdir = tempfile.mkdtemp(prefix="guestkit-bench.qemu-", dir="/tmp")
    port = vmmod.free_port()
    pcap = os.path.join(workdir, "nic.pcap")
    console = os.path.join(workdir, "console.log")
    for f in (pcap, console):
        if os.path.exists(f):
            os.unlink(f)
    cmd = [
        QEMU, "-name", f"guestkit-bench-{kind}", "-nodefaults", "-display", "none", "-no-user-config",
        "-machine", "pc", "-accel", accel, "-cpu", "host" if accel == "kvm" else "max",
        "-smp", "1", "-m", "512M",
        "-kernel", os.path.join(image, "vmlinuz"), "-initrd", os.path.join(image, "initrd.img"),
        "-append", "console=ttyS0 root=/dev/vda rw tsc=reliable panic=-1", "-no-reboot",
        "-blockdev", f"driver=qcow2,node-name=root,file.driver=file,file.filename={overlay}",
        "-device", "virtio-blk-pci,drive=root",
        "-blockdev", f"driver=raw,node-name=seed,read-only=on,file.driver=file,file.filename={seed}",
        "-device", "virtio-blk-pci,drive=seed",
        "-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22",
        "-object", f"filter-dump,id=dump0,netdev=n0,file={pcap}",
        "-device", f"virtio-net-pci,netdev=n0,mac={vmmod.BOOT_NIC_MAC},romfile=",
        "-device", "virtio-serial-pci,id=vser0",
        "-chardev", f"socket,id=qga0,path={sockdir}/qga.sock,server=on,wait=off",
        "-device", "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0",
        "-serial", f"file:{console}",
    ]
    with open(os.path.join(workdir, "qemu.cmdline"), "w", encoding="utf-8") as f:
        f.write(" ".join(cmd) + "\n")
    result = {"kind": kind}
    qemu_log = open(os.path.join(workdir, "qemu.log"), "wb")
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=qemu_log, stderr=subprocess.STDOUT,
                         start_new_session=True)
    try:
        deadline = t0 + BOOT_TIMEOUT

        def check():
            if p.poll() is not None:
                raise RuntimeError(f"{kind}: QEMU exited with {p.returncode}; see {workdir}/qemu.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind}: no ssh login within {BOOT_TIMEOUT} s; see {console}")

        while not lease_seen(pcap):
            check()
            time.sleep(0.1)
        result["lease_s"] = round(time.monotonic() - t0, 2)
        attempts = polls = 0
        while True:
            check()
            wait = min(BANNER_WAIT_FIRST + BANNER_WAIT_STEP * polls, BANNER_WAIT_MAX)
            polls += 1
            if banner(port, wait):
                result.setdefault("banner_s", round(time.monotonic() - t0, 2))
                attempts += 1
                r = subprocess.run(ssh_argv(port, key, user, "true"), stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=120)
                if r.returncode == 0:
                    break
                result["last_ssh_error"] = r.stderr.decode(errors="replace").strip()[-200:]
            time.sleep(0.2)
        result["ssh_s"] = round(time.monotonic() - t0, 2)
        result["ssh_attempts"] = attempts
        result["banner_polls"] = polls
        log(f"  {kind}: lease {result['lease_s']} s, sshd banner {result['banner_s']} s, "
            f"ssh {user}@guest true {result['ssh_s']} s ({attempts} login attempt(s))")
        # As root (the seed's sudo rule): systemctl reaches systemd over its private
        # socket, an unprivileged one would need a D-Bus daemon, which the image lacks.
        r = subprocess.run(ssh_argv(port, key, user, "sudo -n bash -s"), input=PROBE,
                           capture_output=True, text=True, timeout=400)
        with open(os.path.join(workdir, "probe.txt"), "w", encoding="utf-8") as f:
            f.write(r.stdout + "\n-- stderr (exit " + str(r.returncode) + ")\n" + r.stderr)
        state, analyze, units, report, diag = parse_probe(r.stdout)
        result.update(system_state=state, systemd_analyze=analyze, units=units)
        if report:
            result["guestkit_boot_report"] = report
        if diag:  # critical chain to ssh.service, blame, the tool's journal: where the time went
            result["diagnostics"] = diag
        prefix = TOOL_UNITS[kind]
        own = {u: v for u, v in units.items() if own_unit(prefix, u)}
        result["tool_units_s"] = round(sum(v["activating_s"] or 0 for v in own.values()), 3)
        # The CPU the tool's units used in the whole boot (systemd's accounting, the
        # DHCP client and the work after the login included): the machine's speed moves
        # it, its load much less than the wall-clock figures.
        cpus = [v["cpu_s"] for v in own.values() if v.get("cpu_s") is not None]
        result["tool_cpu_s"] = round(sum(cpus), 3) if cpus else None
        # Wall clock from the first of them starting to the last one active (they overlap).
        starts = [v["start_s"] for v in own.values() if v["start_s"]]
        ends = [v["active_s"] for v in own.values() if v["active_s"]]
        result["tool_span_s"] = round(max(ends) - min(starts), 3) if starts and ends else None
        ssh_unit = units.get("ssh.service", {})
        result["sshd_active_uptime_s"] = ssh_unit.get("active_s")
        log(f"  {kind}: system {state}; {analyze}; its own units' activation "
            f"{result['tool_units_s']} s, CPU {result['tool_cpu_s']} s; ssh.service active at uptime "
            f"{result['sshd_active_uptime_s']} s")
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        qemu_log.close()
        shutil.rmtree(sockdir, ignore_errors=True)
        if os.path.exists(overlay):
            os.unlink(overlay)
    return result


def median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def measure(args):
    images = dict(i.split("=", 1) for i in args.image)
    missing = [k for k in KINDS if k not in images]
    if missing:
        sys.exit(f"seed_first_boot: --image needed for {', '.join(missing)}")
    kinds = [k for k in OPTIONAL_KINDS if k in images] + list(KINDS)
    probe_vm = vmmod.VM(os.path.join(args.work, "kvm-probe"))
    os.makedirs(probe_vm.workdir, exist_ok=True)
    accel, why = probe_vm.probe_kvm(os.path.join(images["guestkit"], "vmlinuz"))
    log = lambda text: print(text, flush=True)  # noqa: E731
    log(f"seed-first-boot: accelerator {accel} ({why}); {args.runs} first boots of each kind, interleaved")
    load_before = os.getloadavg()
    runs = {k: [] for k in kinds}
    for n in range(args.runs):
        for kind in kinds:
            log(f"boot {n + 1}/{args.runs}, {kind} (load average {os.getloadavg()[0]:.2f})")
            r = one_boot(kind, images[kind], args.seed, args.key, args.user,
                         os.path.join(args.work, f"{kind}-{n + 1}"), accel, log)
            r["load_average_1m_before"] = round(os.getloadavg()[0], 2)
            runs[kind].append(r)
    load_after = os.getloadavg()
    med = {k: {f: median([r.get(f) for r in runs[k]])
               for f in ("ssh_s", "lease_s", "banner_s", "tool_units_s", "tool_span_s", "tool_cpu_s",
                         "sshd_active_uptime_s")}
           for k in kinds}
    for k in kinds:
        med[k]["over_floor_s"] = round(med[k]["ssh_s"] - med["floor"]["ssh_s"], 2)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True).stdout.strip()
    with open("/etc/os-release", encoding="utf-8") as f:
        osr = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    cpu = ""
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    out = {
        "entry": "seed-first-boot",
        "kind": "first-boot",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit + ("-dirty" if dirty else ""),
        "machine": f"{osr.get('PRETTY_NAME', '?').strip(chr(34))}, {os.cpu_count()} cpus ({cpu}), "
                   f"kernel {platform.release()}",
        "accelerator": accel, "accelerator_reason": why,
        "qemu": subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout.splitlines()[0],
        "guest": "-machine pc -smp 1 -m 512M, Debian 12 (tests/e2e/build-image), seed: cloud-localds NoCloud "
                 "(a user with sudo and an ssh key) on a read-only virtio disk",
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "runs_per_kind": args.runs,
        "kinds": kinds,
        "compare_label": args.compare_label,
        "median": med,
        "runs": runs,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(render(out))


def fmt(v, unit=" s"):
    return "-" if v is None else f"{v:.2f}{unit}" if isinstance(v, float) else f"{v}{unit}"


def render(d):
    m = d["median"]
    lines = [
        "### seed-first-boot", "",
        "One guest image, one `cloud-localds` NoCloud seed (a user with sudo and an ssh key) on a "
        "read-only virtio disk, three kinds of first boot: guestkit (`00-apply-seed` in the bootstrap "
        "stage), Debian 12's cloud-init (the same image with cloud-init and ifupdown instead of guestkit), "
        "and the floor (neither: the user and key baked into the image, the NIC left to systemd-networkd); "
        "when measured, also guestkit on the floor's image (networkd configures the NIC, guestkit-iface "
        "leaves it): the floor plus guestkit, so its difference is the provisioning alone. "
        "QEMU start to the first successful `ssh USER@guest true` with the seed's key (nothing connects "
        "before the DHCP lease is seen in a pcap of the NIC; then sshd's banner is polled with short "
        "connections, closed and made again, so that QEMU's user network does not hold a lost SYN for "
        "its own retransmission timer). \"Own units\" is the sum of the activation times (systemd's "
        "timestamps) of the tool's units: `guestkit-*` or `cloud-*`; \"own units' CPU\" the CPU time systemd "
        "accounted to them over the whole boot (work after the login included). Target: guestkit at most 2.9 s over "
        "the floor.",
        "",
        f"Measured {d['date'][:10]} on {d['machine']}, accelerator {d['accelerator']} "
        f"({d['accelerator_reason']}), {d['qemu']}, commit {d['commit']}; {d['guest']}; "
        f"{d['runs_per_kind']} first boots of each kind, interleaved; load average "
        f"{' '.join(map(str, d['load_average_before']))} before, "
        f"{' '.join(map(str, d['load_average_after']))} after.",
        "",
        "| kind | QEMU start to ssh login (median) | over the floor | each run | own units' activation (median) | own units' CPU (median) | DHCP lease | sshd banner | ssh.service active (guest uptime) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for k in d.get("kinds", KINDS):
        each = ", ".join(fmt(r.get("ssh_s")) for r in d["runs"][k])
        own = "-" if k == "floor" else fmt(m[k]["tool_units_s"])
        cpu = "-" if k == "floor" else fmt(m[k].get("tool_cpu_s"))
        name = (f"guestkit ({d.get('compare_label') or 'another build'})" if k == "guestkit-compare"
                else "guestkit, the floor's network (networkd)" if k == "guestkit-networkd"
                else "guestkit, its own DHCP (guestkit-iface, dhclient)" if k == "guestkit" else k)
        lines.append(f"| {name} | {fmt(m[k]['ssh_s'])} | {fmt(m[k]['over_floor_s'])} | {each} | {own} | {cpu} | "
                     f"{fmt(m[k]['lease_s'])} | {fmt(m[k]['banner_s'])} | {fmt(m[k]['sshd_active_uptime_s'])} |")
    lines.append("")
    for k in [k for k in d.get("kinds", KINDS) if k != "floor"]:
        prefix = TOOL_UNITS[k]
        names = sorted({u for r in d["runs"][k] for u in r.get("units", {}) if own_unit(prefix, u)})
        if not names:
            continue
        cells = []
        for u in names:
            vals = [r["units"].get(u, {}).get("activating_s") for r in d["runs"][k]]
            cells.append(f"`{u}` {fmt(median(vals))}")
        lines.append(f"{k} units (median activation): " + ", ".join(cells) + ".")
        lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--work", required=True)
    m.add_argument("--key", required=True)
    m.add_argument("--user", required=True)
    m.add_argument("--seed", required=True)
    m.add_argument("--image", action="append", default=[])
    m.add_argument("--runs", type=int, default=3)
    m.add_argument("--out", required=True)
    m.add_argument("--compare-label", default="")
    r = sub.add_parser("render")
    r.add_argument("json")
    args = ap.parse_args()
    if args.command == "measure":
        measure(args)
    else:
        with open(args.json, encoding="utf-8") as f:
            print(render(json.load(f)))


if __name__ == "__main__":
    main()
