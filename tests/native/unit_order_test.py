#!/usr/bin/env python3
"""The boot stage units' order around sshd, from the built unit files.

What must precede sshd on a first boot, and nothing more:
* the bootstrap stage (00-apply-seed makes the seed's users and keys, 04-reset-identity
  removes a cloned image's host keys), and
* guestkit-config-ssh.service (11-config-ssh: the host keys and sshd settings), after
  the bootstrap stage.
No other guestkit unit may be ordered before ssh.service, sshd.service or
systemd-user-sessions.service (which lets non-root users log in): the mount stage and
the rest of the config stage held the first ssh login back by their whole run
(bench/README.md, seed-first-boot). And the stage units, which all take the "boot"
lock, are each ordered against every other one, so none waits on the lock.
Priorities: the units before sshd run at a negative Nice=, the stages that run beside
sshd's start (mount, config) at a positive one, every other guestkit unit at 0 or more.

The graph is built the way systemd orders a transaction: A Before=B and B After=A are
one edge A -> B; a unit with default dependencies (DefaultDependencies=yes, the
default) is after sysinit.target and basic.target, as ssh.service and
systemd-user-sessions.service are (Debian's and Fedora's units).

Usage: unit_order_test.py UNIT_DIR
"""

import configparser
import glob
import os
import sys

SSHD = ("ssh.service", "sshd.service", "systemd-user-sessions.service")
STAGES = ("guestkit-bootstrap.service", "guestkit-config-ssh.service", "guestkit-mount.service",
          "guestkit-config.service", "guestkit-postboot.service")
BEFORE_SSHD = {"guestkit-bootstrap.service", "guestkit-config-ssh.service"}
# Boot stages that run beside sshd's start and the first logins: they yield the CPU.
YIELD = {"guestkit-mount.service", "guestkit-config.service"}


def parse(path):
    p = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    p.optionxform = str
    with open(path, encoding="utf-8") as f:
        p.read_string(f.read())
    return p


def nice_of(path):
    """The unit's Nice= (0 when not set)."""
    p = parse(path)
    return int(p["Service"].get("Nice", "0")) if p.has_section("Service") else 0


def load(path):
    p = parse(path)
    unit = p["Unit"] if p.has_section("Unit") else {}

    def words(key):
        return unit.get(key, "").split()

    return words("After"), words("Before"), unit.get("DefaultDependencies", "yes").lower() not in ("no", "false", "0")


def graph(unit_dir):
    edges = {}  # unit -> units ordered after it

    def edge(a, b):
        edges.setdefault(a, set()).add(b)
        edges.setdefault(b, set())

    edge("sysinit.target", "basic.target")
    for u in SSHD:
        edge("basic.target", u)
    names = []
    for path in sorted(glob.glob(os.path.join(unit_dir, "*.service"))):
        name = os.path.basename(path)
        if "@" in name:
            continue  # templates: started by udev for one device, not by the boot order
        names.append(name)
        after, before, default_deps = load(path)
        for a in after:
            edge(a, name)
        for b in before:
            edge(name, b)
        if default_deps:
            edge("basic.target", name)
            edge("sysinit.target", name)
    return edges, names


def ancestors(edges, unit):
    seen, todo = set(), [unit]
    rev = {}
    for a, bs in edges.items():
        for b in bs:
            rev.setdefault(b, set()).add(a)
    while todo:
        for a in rev.get(todo.pop(), ()):
            if a not in seen:
                seen.add(a)
                todo.append(a)
    return seen


def main():
    unit_dir = sys.argv[1]
    edges, names = graph(unit_dir)
    fail = 0
    missing = [s for s in STAGES if s not in names]
    if missing:
        print(f"FAIL: no unit file for {', '.join(missing)} in {sys.argv[1]}")
        return 1
    for target in SSHD:
        before = {u for u in ancestors(edges, target) if u.startswith("guestkit-")}
        if target != "systemd-user-sessions.service":
            if before != BEFORE_SSHD:
                print(f"FAIL: guestkit units ordered before {target}: {sorted(before)}, "
                      f"want exactly {sorted(BEFORE_SSHD)}")
                fail = 1
            else:
                print(f"ok: before {target}: {sorted(before)}")
        else:
            extra = before - BEFORE_SSHD
            if extra:
                print(f"FAIL: guestkit units ordered before {target} (logins wait for them): {sorted(extra)}")
                fail = 1
            else:
                print(f"ok: before {target}: {sorted(before)}")
    if "guestkit-bootstrap.service" not in ancestors(edges, "guestkit-config-ssh.service"):
        print("FAIL: guestkit-config-ssh.service is not after the bootstrap stage (seed, identity reset)")
        fail = 1
    for i, a in enumerate(STAGES):
        for b in STAGES[i + 1:]:
            if a not in ancestors(edges, b) and b not in ancestors(edges, a):
                print(f"FAIL: {a} and {b} are not ordered: both take the boot lock")
                fail = 1
    if not fail:
        print("ok: every two stage units are ordered; config-ssh after bootstrap")
    # The units before sshd run at a raised priority (the boot waits for them while udev's
    # coldplug competes for the CPU); no other guestkit unit does, or it would take the
    # CPU from them and from sshd. The stages beside sshd's start yield (a positive one).
    for path in sorted(glob.glob(os.path.join(unit_dir, "guestkit-*.service"))):
        name = os.path.basename(path)
        nice = nice_of(path)
        if name in BEFORE_SSHD and nice >= 0:
            print(f"FAIL: {name} is on sshd's path and runs at Nice={nice}, want a negative one")
            fail = 1
        elif name in YIELD and nice <= 0:
            print(f"FAIL: {name} runs beside sshd's start at Nice={nice}, want a positive one")
            fail = 1
        elif name not in BEFORE_SSHD and name not in YIELD and nice < 0:
            print(f"FAIL: {name} is not on sshd's path and runs at Nice={nice}")
            fail = 1
    if not fail:
        print(f"ok: raised priority exactly for {sorted(BEFORE_SSHD)}, lowered for {sorted(YIELD)}")
    return fail


if __name__ == "__main__":
    sys.exit(main())
