"""A multiqueue tap for the e2e guest, in a network namespace of its own.

QEMU's user network (slirp) has one queue, so a multiqueue virtio-net needs a tap. The
tap must not touch the host's network: vm.py runs this under `unshare --net`, so the
tap and the DHCP server live in a fresh, empty namespace that only the guest's NIC
reaches. Here, inside it:
  1. open /dev/net/tun QUEUES times as one multiqueue tap named NAME, send the queue
     descriptors to vm.py over the inherited unix socket (fd SOCK), which hands them to
     QEMU (-netdev tap,fds=...);
  2. give the tap 198.51.100.1/24 (TEST-NET-2) and exec dnsmasq in the foreground: it
     leases 198.51.100.50-99 with no router and no DNS server option, so the NIC never
     competes for the default route, and it keeps the namespace alive until vm.py
     stops it by PID.

With a fifth argument "router", dnsmasq names 198.51.100.1 as the router (a public
NIC with a default route: the route policy's case, vm.py VARIANTS mq_tap_router).

Usage: unshare --net python3 mqtap.py SOCK NAME QUEUES WORKDIR [router]
"""

import fcntl
import os
import socket
import struct
import subprocess
import sys

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_MULTI_QUEUE = 0x0100
IFF_VNET_HDR = 0x4000


def main():
    sock_fd, name, queues, workdir = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    router = "option:router,198.51.100.1" if sys.argv[5:] == ["router"] else "option:router"
    fds = []
    for _ in range(queues):
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
        ifr = struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE | IFF_VNET_HDR)
        fcntl.ioctl(fd, TUNSETIFF, ifr)
        fds.append(fd)
    with socket.socket(fileno=sock_fd) as s:
        socket.send_fds(s, [b"tap"], fds)
    for fd in fds:
        os.close(fd)
    for cmd in (["ip", "link", "set", "lo", "up"],
                ["ip", "addr", "add", "198.51.100.1/24", "dev", name],
                ["ip", "link", "set", name, "up"]):
        subprocess.run(cmd, check=True)
    os.execvp("dnsmasq", [
        "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--no-ping",
        "--user=root", "--pid-file=", "--bind-interfaces", f"--interface={name}",
        f"--dhcp-leasefile={os.path.join(workdir, 'mqtap-dnsmasq.leases')}",
        "--dhcp-range=198.51.100.50,198.51.100.99,1h",
        f"--dhcp-option={router}", "--dhcp-option=option:dns-server",
        f"--log-facility={os.path.join(workdir, 'mqtap-dnsmasq.log')}", "--log-dhcp"])


if __name__ == "__main__":
    main()
