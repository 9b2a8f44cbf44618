#!/usr/bin/env python3
"""Userspace IPv4-in-IPv4 decapsulator for a TUN-mode real server.

This machine's kernel has no ipip module, so a real server of a dplb TUN
service cannot terminate the tunnel in the kernel. This program does it in
user space, in the real server's namespace:

  - a raw socket for IP protocol 4 receives every IPIP packet addressed to the
    namespace (the kernel has reassembled outer fragments already, and does
    not answer "protocol unreachable" while a raw socket takes the protocol);
  - the inner packet is written, unchanged, into a TUN device (IFF_TUN |
    IFF_NO_PI) that carries the VIP, so the kernel receives it as if it came
    in on that device and answers from the VIP by its ordinary routes.

Usage: ipip_decap.py TUN_NAME
Prints "ready <name>" once the device and the socket exist (the caller then
addresses the device and brings it up), then one line per packet:

  ipip outer src=A dst=B ttl=N tos=0xNN df=0|1 mf=0|1 id=N len=N csum=ok|bad
       inner src=A dst=B ttl=N tos=0xNN df=0|1 proto=N len=N csum=ok|bad

(one line; the IPv4 header checksums are verified here). Malformed packets
are logged as "bad ..." and not written. Python 3 standard library only.
"""

import fcntl
import os
import signal
import socket
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IPPROTO_IPIP = 4


def checksum_ok(header: bytes) -> bool:
    """True when the one's-complement sum of the header is 0xFFFF."""
    if len(header) % 2:
        header += b"\0"
    total = sum(struct.unpack("!%dH" % (len(header) // 2), header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def parse_ipv4(data: bytes):
    """Fields of an IPv4 header, or None when it is not a whole one."""
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 0x0F) * 4
    if ihl < 20 or len(data) < ihl:
        return None
    total_len, ident, frag = struct.unpack("!HHH", data[2:8])
    return {
        "ihl": ihl,
        "tos": data[1],
        "len": total_len,
        "id": ident,
        "df": (frag >> 14) & 1,
        "mf": (frag >> 13) & 1,
        "ttl": data[8],
        "proto": data[9],
        "src": socket.inet_ntoa(data[12:16]),
        "dst": socket.inet_ntoa(data[16:20]),
        "csum": "ok" if checksum_ok(data[:ihl]) else "bad",
    }


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    name = sys.argv[1]
    # SIGTERM (the test's teardown) ends the loop quietly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    tun = os.open("/dev/net/tun", os.O_RDWR)
    ifr = struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI)
    fcntl.ioctl(tun, TUNSETIFF, ifr)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_IPIP)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    print("ready", name, flush=True)

    while True:
        packet = raw.recv(65535)
        outer = parse_ipv4(packet)
        if outer is None or outer["proto"] != IPPROTO_IPIP or outer["len"] > len(packet):
            print("bad outer header, %d bytes" % len(packet), flush=True)
            continue
        inner_bytes = packet[outer["ihl"] : outer["len"]]
        inner = parse_ipv4(inner_bytes)
        if inner is None or inner["len"] != len(inner_bytes):
            print(
                "bad inner packet from %s, %d bytes" % (outer["src"], len(inner_bytes)),
                flush=True,
            )
            continue
        print(
            "ipip outer src=%s dst=%s ttl=%d tos=0x%02x df=%d mf=%d id=%d len=%d csum=%s"
            " inner src=%s dst=%s ttl=%d tos=0x%02x df=%d proto=%d len=%d csum=%s"
            % (
                outer["src"], outer["dst"], outer["ttl"], outer["tos"], outer["df"],
                outer["mf"], outer["id"], outer["len"], outer["csum"],
                inner["src"], inner["dst"], inner["ttl"], inner["tos"], inner["df"],
                inner["proto"], inner["len"], inner["csum"],
            ),
            flush=True,
        )
        try:
            os.write(tun, inner_bytes)
        except OSError as e:  # the device is down or being torn down
            print("write to %s failed: %s" % (name, e), flush=True)


if __name__ == "__main__":
    sys.exit(main())
