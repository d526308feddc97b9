"""Issue 15's e2e scenarios: a fresh first boot provisioned by a platform seed alone
(tests/e2e/seed_media.py makes the seeds), never by the agent. Each one checks what
the seed applied, that /run/guestkit/seed.json and `guestkit-seed show` name the source
and hold no secret, and prints its timings: QEMU start to the boot's end, the guest's
uptime when 00-apply-seed had applied the seed, and an ssh login with the seed's key.
"""

import hashlib
import json
import os
import secrets
import subprocess
import time

import seed_media


def _sc():
    import scenarios  # the shared helpers (crypt, guestkit-ctl); imported late: it imports us
    return scenarios


def _ssh(c, user, key, command, timeout=60):
    argv = ["ssh", "-p", str(c.vm.state["ssh_port"]), "-i", key,
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=30",
            f"{user}@127.0.0.1", command]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def _secret_free(c, what, text, secret_values):
    leaked = [n for n, v in secret_values.items() if v and v in text]
    c.check(not leaked, f"{what} holds a secret: {', '.join(leaked)}")


def _report(c, source, secret_values):
    """seed.json and `guestkit-seed show`: the source named, no secret; the boot timings."""
    text = c.guest_ok("cat /run/guestkit/seed.json")
    report = json.loads(text)
    c.say(f"/run/guestkit/seed.json: source {report.get('source')} ({report.get('origin')}), "
          f"instance {report.get('instance_id')}, state '{report.get('state')}'")
    for item in report.get("not_applied", []):
        c.say(f"  not applied: {item.get('key')}: {item.get('why')}")
    c.check(report.get("source") == source, f"seed.json names source {report.get('source')!r}, not {source!r}")
    c.check(str(report.get("state", "")).startswith("applied"), f"the seed was not applied: {report}")
    _secret_free(c, "/run/guestkit/seed.json", text, secret_values)
    mode = c.guest_ok("stat -c '%a %U' /run/guestkit/seed.json").strip()
    c.check(mode == "644 root", f"seed.json is {mode}, expected 644 root")
    code, shown = c.show("guestkit-seed show")
    c.check(code == 0, f"guestkit-seed show exited {code}")
    _secret_free(c, "guestkit-seed show", shown, secret_values)
    # The bootstrap stage's record of 00-apply-seed, and when the stage ended.
    stage = json.loads(c.guest_ok("cat /run/guestkit/boot-bootstrap.json"))
    rec = next((p for p in stage.get("plugins", []) if p.get("name") == "00-apply-seed"), None)
    c.check(rec is not None, "no 00-apply-seed in the bootstrap stage's report")
    c.check(rec.get("status") == "changed", f"00-apply-seed: {rec}")
    out = c.guest_ok("systemctl show -p ExecMainStartTimestampMonotonic -p ExecMainExitTimestampMonotonic "
                     "guestkit-bootstrap.service")
    props = dict(line.split("=", 1) for line in out.split() if "=" in line)
    start = int(props.get("ExecMainStartTimestampMonotonic", 0)) / 1e6
    end = int(props.get("ExecMainExitTimestampMonotonic", 0)) / 1e6
    c.show("journalctl -b -o cat -t guestkit --no-pager | grep -E 'seed: |erased the seed' | head -n 12")
    c.measure("00-apply-seed's own run", rec.get("duration_ms", 0) / 1000)
    c.measure("guest uptime when the bootstrap stage started", start)
    c.measure("guest uptime when the seed was applied (bootstrap stage done)", end)
    c.measure("QEMU start to the end of the boot (ready marker)", c.vm.state.get("boot_seconds", 0))
    return report, shown


def _login(c, user, key, hostname):
    t = time.monotonic()
    code, out, err = _ssh(c, user, key, "id -un; hostname; sudo -n true && echo sudo-ok")
    c.say(f"host$ ssh -i <seed key> {user}@guest 'id -un; hostname; sudo -n true && echo sudo-ok' -> "
          f"exit {code}: {out.split()} {err.strip()[:200]}")
    c.check(code == 0 and out.split() == [user, hostname, "sudo-ok"],
            f"ssh as {user} with the seed's key: exit {code}, output {out.split()}, {err.strip()[:300]}")
    c.measure(f"ssh login as {user} with the seed's key", time.monotonic() - t)


def _root_password(c, password):
    _, line, _ = c.guest("getent shadow root")
    fields = line.strip().split(":")
    hashed = fields[1] if len(fields) > 1 else ""
    ok = bool(hashed) and _sc()._crypt_verifies(password, hashed)
    c.say(f"root's shadow hash (${hashed.split('$')[1] if hashed.count('$') > 2 else '?'}$) "
          f"{'verifies' if ok else 'does NOT verify'} the seed's password with crypt(3)")
    c.check(ok, "root's password in /etc/shadow does not verify the seed's")


def _key_file(c, key_hex):
    out = c.guest_ok("stat -c '%a %U %G' /etc/guestkit/agent.key; sha256sum < /etc/guestkit/agent.key").split()
    c.check(out[:3] == ["600", "root", "root"], f"/etc/guestkit/agent.key is {out[:3]}, expected 600 root root")
    want = hashlib.sha256((key_hex + "\n").encode()).hexdigest()
    want_bare = hashlib.sha256(key_hex.encode()).hexdigest()
    c.check(out[3] in (want, want_bare), "/etc/guestkit/agent.key is not the seed's key")
    c.say("/etc/guestkit/agent.key: 0600 root, the seed's key (compared by SHA-256)")


def _provisioned_marker(c, instance_id):
    code, _, _ = c.guest(f"test -f /var/lib/guestkit/provisioned/{instance_id}")
    c.check(code == 0, f"no provisioned marker for {instance_id}")


# ---- (a) NoCloud on an IDE cdrom ----

def nocloud(c):
    f = seed_media.load(c.vm)
    c.show("lsmod | grep -E '^(ata_piix|sr_mod|cdrom) ' ; ls -l /dev/sr0; blkid -o export /dev/sr0")
    report, _ = _report(c, "nocloud", {"root password": f["root_password"]})
    c.check(str(report.get("origin", "")).startswith("/dev/sr"), f"the seed was not read from the cdrom: {report}")
    c.check(report.get("instance_id") == f["instance_id"], f"instance id {report.get('instance_id')}")
    c.check(any(i.get("key") == "user-data: packages" for i in report.get("not_applied", [])),
            "user-data's `packages` is not reported as not applied")
    _provisioned_marker(c, f["instance_id"])
    _login(c, f["user"], f["key"], f["hostname"])
    _root_password(c, f["root_password"])
    c.show(f"getent passwd {f['user']}; sudo -l -U {f['user']} | tail -n 1; grep -c . /etc/ssh/sshd_config.d/*guestkit* "
           "2>/dev/null; true")


# ---- (b) the in-swap tar ----

def swap(c):
    f = seed_media.load(c.vm)
    secret_values = {"root password": f["root_password"], "agent key": f["agent_key"]}
    report, _ = _report(c, "swap-guestkit", secret_values)
    c.check(report.get("instance_id") == f["instance_id"], f"instance id {report.get('instance_id')}")
    _provisioned_marker(c, f["instance_id"])
    dev = c.guest_ok("readlink -f /dev/disk/by-id/virtio-e2e-swap").strip()
    _, swaps = c.show("cat /proc/swaps")
    used = [line.split()[0] for line in swaps.splitlines()[1:] if line.split()]
    c.check(any(u.startswith(dev) for u in used), f"the swap disk {dev} is not in use as swap: {used}")
    # The seed's bytes, read in the guest (the device as the kernel has it) ...
    n = c.guest_ok(f"dd if={dev} bs=4096 skip={seed_media.SEED_OFFSET // 4096} count=64 status=none "
                   "| tr -d '\\000' | wc -c").strip()
    c.say(f"guest: non-zero bytes in 256 KiB at 512 KiB of {dev}: {n}")
    c.check(n == "0", f"{dev} still holds data at 512 KiB ({n} non-zero bytes): the seed tar was not erased")
    # ... and the whole image on the host: no secret of the seed anywhere on the disk.
    with open(c.vm.path("swap.img"), "rb") as img:
        disk = img.read()
    for name, value in {**secret_values, "order member": "guestkit/order.json"}.items():
        c.check(value.encode() not in disk, f"the swap disk image still holds the seed's {name}")
    c.say(f"host: swap.img ({len(disk) >> 20} MiB) holds neither the seed's tar, its root password nor its agent key")
    _key_file(c, f["agent_key"])
    _login(c, f["user"], f["key"], f["hostname"])
    _root_password(c, f["root_password"])


# ---- (c) ConfigDrive ----

def configdrive(c):
    f = seed_media.load(c.vm)
    report, shown = _report(c, "configdrive", {"admin_pass": f["root_password"]})
    dev = c.guest_ok("readlink -f /dev/disk/by-id/virtio-e2e-config-2").strip()
    c.check(report.get("origin") == dev, f"the seed was read from {report.get('origin')}, not {dev}")
    c.check(report.get("instance_id") == f["instance_id"], f"instance id {report.get('instance_id')}")
    _provisioned_marker(c, f["instance_id"])
    c.check(c.guest_ok("hostname").strip() == f["hostname"], "the hostname is not the config drive's")
    # public_keys go to the image's default user (Debian: debian), as cloud-init does.
    user = c.guest_ok(". /etc/os-release; echo $ID").strip()
    _login(c, user, f["key"], f["hostname"])
    _root_password(c, f["root_password"])


# ---- (d) the agent key from SMBIOS type 11 ----

def smbios(c):
    f = seed_media.load(c.vm)
    with open(f["agent_key_file"], encoding="utf-8") as kf:
        key_hex = kf.read().strip()
    report, _ = _report(c, "none", {"agent key": key_hex})
    c.check((report.get("agent_key") or {}).get("source", "").startswith("SMBIOS"),
            f"seed.json does not name SMBIOS as the key's source: {report.get('agent_key')}")
    c.show("ls -l /sys/firmware/dmi/entries/11-*/raw; "
           "setpriv --reuid=nobody --regid=nogroup --clear-groups cat /sys/firmware/dmi/entries/11-0/raw "
           ">/dev/null && echo READABLE-BY-NOBODY || echo 'not readable by nobody'")
    code, out, _ = c.guest("setpriv --reuid=nobody --regid=nogroup --clear-groups "
                           "cat /sys/firmware/dmi/entries/11-0/raw >/dev/null")
    c.check(code != 0, "an unprivileged user can read the SMBIOS OEM strings (the agent key)")
    _key_file(c, key_hex)
    ctl = _sc()._find_ctl()
    c.check(ctl is not None, "guestkit-ctl is not built")
    target = f"tcp:127.0.0.1:{c.vm.state['agent_port']}"
    t = time.monotonic()
    p = subprocess.run([ctl, "--connect", target, "--key", f["agent_key_file"], "--json", "status"],
                       capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    c.say(f"host$ guestkit-ctl --key <SMBIOS key> --json status -> exit {p.returncode}: "
          f"{(p.stdout + p.stderr).strip()[:300]}")
    c.check(p.returncode == 0, f"the agent did not serve the SMBIOS key's holder: exit {p.returncode}")
    answer = json.loads(p.stdout)
    c.check(answer.get("ok") is True, f"the sealed status was not ok: {p.stdout[:300]}")
    c.measure("sealed status with the SMBIOS key, through inetd", time.monotonic() - t)
    # The key baked into the image (build-image's agent.key) is now a wrong key.
    wrong = c.vm.path("image", "agent.key")
    p = subprocess.run([ctl, "--connect", target, "--key", wrong, "--json", "status"],
                       capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    c.say(f"host$ guestkit-ctl --key <the image's old key> --json status -> exit {p.returncode}: "
          f"{(p.stdout + p.stderr).strip()[:300]}")
    c.check(p.returncode != 0, "the agent served a wrong key")
    c.check(key_hex not in p.stdout + p.stderr, "the agent's refusal quotes the key")


# ---- Debian 13: the NoCloud seed at the trixie guest's one first boot ----

def trixie_seed(c):
    """seed-nocloud's checks on the trixie guest, whose first boot had the same cdrom;
    then the platform gives the VM a new instance id, as it does when it reuses a
    provisioned VM for a new instance, so that the agent's order (scenario provision,
    next) is for an instance nobody provisioned yet."""
    c.show(". /etc/os-release; echo $PRETTY_NAME; uname -r; systemctl --version | head -n 1")
    nocloud(c)
    seeded = c.guest_ok("cat /etc/guestkit/instance-id").strip()
    c.check(seeded == seed_media.load(c.vm)["instance_id"],
            f"/etc/guestkit/instance-id is {seeded!r}, not the seed's instance id")
    new = "e2e-trixie-" + secrets.token_hex(8)
    c.guest_ok(f"umask 022; printf '%s\\n' {new} >/etc/guestkit/instance-id.new && "
               "mv /etc/guestkit/instance-id.new /etc/guestkit/instance-id")
    c.vm.state["instance_id"] = new
    c.vm.save()
    c.say(f"the platform gave the VM a new instance id: {new} (was the seed's {seeded})")


SCENARIOS = {
    "seed-nocloud": ("seed-nocloud: a cloud-localds cidata cdrom provisions the first boot",
                     "No agent contact: a NoCloud ISO made by cloud-localds is on the VM's IDE cdrom. At the "
                     "bootstrap stage, before the network and sshd, 00-apply-seed reads it (libarchive, "
                     "nothing mounted) and runs it as a provision order: a user with an ssh key and sudo, "
                     "the hostname, root's password.", nocloud),
    "seed-swap": ("seed-swap: the old platform's tar in the swap disk, applied then erased",
                  "No agent contact: the platform wrote a guestkit/ tar (an order and the VM's agent key) "
                  "at 512 KiB of the blank swap disk. It is applied first thing at boot, then 01-setup-swap "
                  "zeroes it and makes the disk swap: its secrets are gone from the disk.", swap),
    "seed-configdrive": ("seed-configdrive: an OpenStack config-2 drive provisions the first boot",
                         "No agent contact: a config-2 ISO (genisoimage, OpenStack layout) on a read-only "
                         "virtio disk: hostname, public_keys for the image's default user, admin_pass as "
                         "root's password.", configdrive),
    "seed-smbios": ("seed-smbios: the agent key from an SMBIOS OEM string, per VM",
                    "The platform passes the VM's own agent key as an SMBIOS type 11 OEM string. It is "
                    "installed before inetd starts: guestkit-ctl with that key is served, the key baked "
                    "into the image is refused.", smbios),
    "trixie-seed": ("trixie-seed: Debian 13's first boot provisioned by the cidata cdrom, then a new instance",
                    "Debian 13 (trixie), with its own systemd and kernel: the same NoCloud cdrom as "
                    "seed-nocloud was on the VM at its first boot, and the seed's user, key, hostname and "
                    "root password are in place. Then the platform writes a new instance id, for the "
                    "agent's order that follows.", trixie_seed),
}
ORDERS = {
    "seed-nocloud": ["seed-nocloud"],
    "seed-swap": ["seed-swap"],
    "seed-configdrive": ["seed-configdrive"],
    "seed-smbios": ["seed-smbios"],
}
