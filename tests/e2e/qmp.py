"""Small clients for QEMU's two JSON sockets: QMP (the monitor) and the guest agent.

Both speak one JSON object per line over a unix socket and serve one client at a
time, so every user connects, does its work and closes (the with-statement). Every
line sent and received is appended to a transcript with a timestamp, kept for
diagnostics.
"""

import base64
import json
import os
import socket
import time


class ProtocolError(Exception):
    pass


class CommandError(Exception):
    """QEMU or the guest agent answered a command with an error."""

    def __init__(self, command, error):
        super().__init__(f"{command}: {error.get('class', '?')}: {error.get('desc', error)}")
        self.error = error


class _JsonLines:
    """A line-oriented JSON connection with deadlines and a transcript."""

    def __init__(self, path, transcript, label, timeout):
        self.label = label
        self.transcript = transcript
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.events = []  # QMP events that arrived while waiting for a reply (QGA has none)

    def close(self):
        try:
            self.sock.close()
        finally:
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _log(self, direction, text):
        if not self.transcript:
            return
        with open(self.transcript, "a", encoding="utf-8") as f:
            stamp = time.strftime("%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}"
            if len(text) > 600:  # captured command output is base64: keep the transcript readable
                text = text[:600] + f"... ({len(text)} bytes)"
            f.write(f"{stamp} {self.label} {direction} {text}\n")

    def send(self, obj):
        line = json.dumps(obj)
        self._log(">", line)
        self.sock.sendall(line.encode() + b"\n")

    def execute(self, command, timeout=30, **args):
        """Sends one command and returns its "return" value; an "error" raises."""
        msg = {"execute": command}
        if args:
            msg["arguments"] = args
        self.send(msg)
        deadline = time.monotonic() + timeout
        while True:
            reply = self.recv(deadline)
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise CommandError(command, reply["error"])
            if "return" in reply:
                return reply["return"]

    def recv(self, deadline):
        """The next JSON object, or TimeoutError after the deadline (time.monotonic())."""
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line, self.buf = self.buf[:nl], self.buf[nl + 1:]
                # guest-sync-delimited answers start with 0xff; stale bytes may too.
                line = line.lstrip(b"\xff").strip()
                if not line:
                    continue
                text = line.decode("utf-8", "replace")
                self._log("<", text)
                try:
                    return json.loads(text)
                except ValueError:
                    continue  # a partial line from an earlier client: skip it
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.label}: no answer in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout as e:
                raise TimeoutError(f"{self.label}: no answer in time") from e
            if not chunk:
                raise ProtocolError(f"{self.label}: connection closed")
            self.buf += chunk


class QMP(_JsonLines):
    """The QEMU monitor. Events that arrive while waiting for a reply are kept."""

    def __init__(self, path, transcript=None, timeout=30):
        super().__init__(path, transcript, "qmp", timeout)
        greeting = self.recv(time.monotonic() + timeout)
        if "QMP" not in greeting:
            raise ProtocolError(f"qmp: unexpected greeting {greeting}")
        self.execute("qmp_capabilities")

    def wait_event(self, name, timeout, match=None):
        """The first event NAME (whose data passes match()), including ones already received."""
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("event") == name and (match is None or match(ev.get("data", {}))):
                    return self.events.pop(i)
            reply = self.recv(deadline)
            if "event" in reply:
                self.events.append(reply)


class GuestAgent(_JsonLines):
    """qemu-guest-agent over its virtio-serial port."""

    def __init__(self, path, transcript=None, timeout=10):
        super().__init__(path, transcript, "qga", timeout)
        self.sync(timeout)

    def sync(self, timeout):
        # A previous client may have left an answer in the pipe: sync on a fresh id
        # and drop everything before its echo.
        token = int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF
        self.send({"execute": "guest-sync-delimited", "arguments": {"id": token}})
        deadline = time.monotonic() + timeout
        while True:
            reply = self.recv(deadline)
            if reply.get("return") == token:
                return

    def run(self, argv, timeout=60, stdin=None):
        """Runs argv in the guest; returns (exit code, stdout, stderr) as text."""
        args = {"path": argv[0], "arg": list(argv[1:]), "capture-output": True}
        if stdin is not None:
            args["input-data"] = base64.b64encode(stdin.encode()).decode()
        pid = self.execute("guest-exec", **args)["pid"]
        deadline = time.monotonic() + timeout
        pause = 0.05
        while True:
            st = self.execute("guest-exec-status", pid=pid)
            if st.get("exited"):
                out = base64.b64decode(st.get("out-data", "")).decode("utf-8", "replace")
                err = base64.b64decode(st.get("err-data", "")).decode("utf-8", "replace")
                code = st.get("exitcode", 128 + st.get("signal", 0))
                return code, out, err
            if time.monotonic() > deadline:
                raise TimeoutError(f"guest command {argv} still running after {timeout} s")
            time.sleep(pause)
            pause = min(pause * 2, 0.5)

    def sh(self, script, timeout=60):
        return self.run(["/bin/sh", "-c", script], timeout=timeout)
