#!/usr/bin/env python3
"""Send one UDP datagram and report what came back: a reply or an ICMP error.

Usage: udp_probe.py SRC DST PORT PAYLOAD_BYTES do|dont [TIMEOUT_S]

  do    DF set (IP_PMTUDISC_DO)       dont  DF clear (IP_PMTUDISC_DONT)

The socket is connected and has IP_RECVERR on, so an ICMP error about the
datagram lands on its error queue with the sender's address. Prints one of

  reply LEN TEXT                      a datagram came back (TEXT: its start)
  icmp type=T code=C info=N errno=E offender=A
                                      an ICMP error (info = next-hop MTU for
                                      fragmentation needed)
  emsgsize                            the kernel refused to send (known PMTU)
  timeout

then "ip_mtu N" (the socket's path MTU as the kernel knows it now).
Exit 0 unless the arguments are wrong. Python 3 standard library only.
"""

import select
import socket
import struct
import sys
import time

IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT = 0
IP_PMTUDISC_DO = 2
IP_RECVERR = 11
IP_MTU = 14
MSG_ERRQUEUE = 0x2000


def report_error(sock: socket.socket) -> None:
    _, ancdata, _, _ = sock.recvmsg(2048, 512, MSG_ERRQUEUE)
    for level, ctype, data in ancdata:
        if level != socket.IPPROTO_IP or ctype != IP_RECVERR or len(data) < 16:
            continue
        # struct sock_extended_err, then the offender's sockaddr_in.
        errno_, _origin, icmp_type, icmp_code, _pad, info, _data = struct.unpack(
            "=IBBBBII", data[:16]
        )
        offender = "-"
        if len(data) >= 24:
            offender = socket.inet_ntoa(data[20:24])
        print(
            "icmp type=%d code=%d info=%d errno=%d offender=%s"
            % (icmp_type, icmp_code, info, errno_, offender),
            flush=True,
        )
        return
    print("icmp unparsed", flush=True)


def main() -> int:
    if len(sys.argv) not in (6, 7):
        print(__doc__, file=sys.stderr)
        return 2
    src, dst, port, size, mode = (
        sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5],
    )
    timeout = float(sys.argv[6]) if len(sys.argv) == 7 else 3.0
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((src, 0))
    sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
    sock.setsockopt(
        socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO if mode == "do" else IP_PMTUDISC_DONT
    )
    sock.connect((dst, port))
    try:
        sock.send(b"x" * size)
    except OSError as e:
        if e.errno == 90:  # EMSGSIZE
            print("emsgsize", flush=True)
            print("ip_mtu", sock.getsockopt(socket.IPPROTO_IP, IP_MTU), flush=True)
            return 0
        raise
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLERR)
    deadline = time.monotonic() + timeout
    outcome = "timeout"
    while time.monotonic() < deadline:
        events = poller.poll(max(1, int((deadline - time.monotonic()) * 1000)))
        if not events:
            continue
        _, ev = events[0]
        if ev & select.POLLERR:
            report_error(sock)
            outcome = None
            break
        if ev & select.POLLIN:
            data = sock.recv(65535)
            print("reply", len(data), data[:60].decode(errors="replace"), flush=True)
            outcome = None
            break
    if outcome:
        print(outcome, flush=True)
    print("ip_mtu", sock.getsockopt(socket.IPPROTO_IP, IP_MTU), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
