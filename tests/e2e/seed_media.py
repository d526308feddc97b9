"""The platform seeds of issue 15's e2e variants: each VM variant below is a fresh first
boot that gets its order from a seed only, never from the agent (tests/e2e/seed_scenarios.py
checks what the guest made of it).

  seed-nocloud      a NoCloud `cidata` ISO made by cloud-localds, on an IDE cdrom
  seed-swap         a guestkit/ layout tar at byte 524288 of the blank swap disk
  seed-configdrive  an OpenStack config-2 ISO made by genisoimage, a read-only virtio disk
  seed-smbios       the agent key in an SMBIOS type 11 OEM string, nothing else

The media are made on the host when QEMU's command line is built (vm.VM.command calls
"extra", vm.VM.make_disks calls "swap_hook"); what a scenario must know (keys, passwords,
instance ids) goes to WORKDIR/seed/secrets.json, 0600 in a 0700 directory. Those are a
throwaway guest's secrets; the seed images themselves are named disk-*.img, which
teardown removes.
"""

import json
import os
import secrets
import shutil
import subprocess
import uuid

SEED_OFFSET = 512 << 10  # plugins/seed/discover.hpp kSwapSeedOffset


def _seed_dir(vm):
    d = vm.path("seed")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d, mode=0o700)
    return d


def _keypair(d, name):
    key = os.path.join(d, name)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"e2e-{name}", "-f", key], check=True)
    with open(key + ".pub", encoding="utf-8") as f:
        return key, f.read().strip()


def _write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _save(vm, facts):
    _write_private(os.path.join(vm.path("seed"), "secrets.json"), json.dumps(facts, indent=2) + "\n")


def load(vm):
    with open(os.path.join(vm.path("seed"), "secrets.json"), encoding="utf-8") as f:
        return json.load(f)


def _password(tag):
    return f"e2e-{tag}-" + secrets.token_urlsafe(12)


# ---- (a) NoCloud, cloud-localds, IDE cdrom ----

def nocloud_args(vm):
    d = _seed_dir(vm)
    key, pub = _keypair(d, "id_nocloud")
    facts = {"user": "seeduser", "hostname": "seed-nocloud", "key": key, "pub": pub,
             "root_password": _password("root"), "instance_id": "iid-e2e-nocloud-" + secrets.token_hex(4)}
    user_data = os.path.join(d, "user-data")
    meta_data = os.path.join(d, "meta-data")
    _write_private(user_data, f"""#cloud-config
hostname: {facts['hostname']}
users:
  - name: {facts['user']}
    gecos: e2e seed user
    shell: /bin/bash
    sudo: ALL=(ALL) NOPASSWD:ALL
    lock_passwd: true
    ssh_authorized_keys:
      - {pub}
chpasswd:
  expire: false
  users:
    - name: root
      password: "{facts['root_password']}"
      type: text
ssh_pwauth: false
packages: [htop]
""")
    _write_private(meta_data, f"instance-id: {facts['instance_id']}\nlocal-hostname: {facts['hostname']}\n")
    iso = vm.path("disk-seed-cidata.img")
    subprocess.run(["cloud-localds", iso, user_data, meta_data], check=True)
    os.chmod(iso, 0o600)
    os.unlink(user_data)  # it holds the root password in clear; the ISO is removed by teardown
    _save(vm, facts)
    # The pc machine's own PIIX IDE controller (present with -nodefaults): the guest
    # needs ata_piix, libata, sr_mod and cdrom, none of them in the small initrd.
    return ["-blockdev", f"driver=raw,node-name=cidata,read-only=on,file.driver=file,file.filename={iso}",
            "-device", "ide-cd,drive=cidata,bus=ide.1,id=cidata"]


# ---- (b) the in-swap tar ----

def swap_seed(vm, swap):
    d = _seed_dir(vm)
    key, pub = _keypair(d, "id_swap")
    agent_key = secrets.token_hex(32)
    facts = {"user": "swapadmin", "hostname": "seed-swap", "key": key, "pub": pub,
             "root_password": _password("root"), "agent_key": agent_key,
             "instance_id": "iid-e2e-swap-" + secrets.token_hex(4)}
    tree = os.path.join(d, "tree")
    os.makedirs(os.path.join(tree, "guestkit"), mode=0o700)
    order = {"instance_id": facts["instance_id"], "hostname": facts["hostname"],
             "root": {"password": facts["root_password"]},
             "admin": {"name": facts["user"], "sudo": "nopasswd", "ssh_keys": [pub]}}
    _write_private(os.path.join(tree, "guestkit", "order.json"), json.dumps(order) + "\n")
    _write_private(os.path.join(tree, "guestkit", "agent.key"), agent_key + "\n")
    tar = os.path.join(d, "seed.tar")
    subprocess.run(["tar", "--format=ustar", "--owner=0", "--group=0", "-cf", tar, "-C", tree, "guestkit"],
                   check=True)
    shutil.rmtree(tree)
    with open(tar, "rb") as f:
        data = f.read()
    os.unlink(tar)
    # After the GPT vm.make_disks wrote (its partition starts at 1 MiB): byte 524288 of
    # the whole disk, in the gap between the partition table and the swap partition.
    with open(swap, "r+b") as f:
        f.seek(SEED_OFFSET)
        f.write(data)
    facts["tar_bytes"] = len(data)
    _save(vm, facts)


# ---- (c) ConfigDrive, genisoimage, read-only virtio disk ----

def configdrive_args(vm):
    d = _seed_dir(vm)
    key, pub = _keypair(d, "id_configdrive")
    facts = {"hostname": "seed-configdrive", "key": key, "pub": pub, "root_password": _password("admin-pass"),
             "instance_id": str(uuid.uuid4())}
    tree = os.path.join(d, "tree")
    latest = os.path.join(tree, "openstack", "latest")
    os.makedirs(latest)
    meta = {"uuid": facts["instance_id"], "hostname": facts["hostname"], "name": "e2e",
            "public_keys": {"e2e": pub}, "admin_pass": facts["root_password"],
            "meta": {"role": "e2e"}}
    _write_private(os.path.join(latest, "meta_data.json"), json.dumps(meta) + "\n")
    _write_private(os.path.join(latest, "user_data"), "#cloud-config\nssh_pwauth: false\n")
    img = vm.path("disk-seed-config2.img")
    subprocess.run(["genisoimage", "-quiet", "-o", img, "-V", "config-2", "-r", "-J", tree], check=True)
    os.chmod(img, 0o600)
    shutil.rmtree(tree)
    _save(vm, facts)
    return ["-blockdev", f"driver=raw,node-name=config2,read-only=on,file.driver=file,file.filename={img}",
            "-device", "virtio-blk-pci,drive=config2,id=config2,serial=e2e-config-2"]


# ---- (d) SMBIOS type 11 ----

def smbios_args(vm):
    d = _seed_dir(vm)
    key = secrets.token_hex(32)
    key_file = os.path.join(d, "agent.key")
    _write_private(key_file, key + "\n")
    _save(vm, {"agent_key_file": key_file})
    # On QEMU's command line, as a platform passes it: the host's ps shows it, the
    # guest's unprivileged users cannot read it (/sys/firmware/dmi/entries is root's).
    return ["-smbios", f"type=11,value=io.guestkit.agent-key={key}"]


VARIANTS = {
    "seed-nocloud": {"extra": nocloud_args},
    "seed-swap": {"swap_hook": swap_seed},
    "seed-configdrive": {"extra": configdrive_args},
    "seed-smbios": {"extra": smbios_args},
}
