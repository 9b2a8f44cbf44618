#!/usr/bin/env python3
"""UDP echo server for the e2e real servers.

usage: udp_echo.py NAME ADDR PORT [--len]

Prints "ready" once bound to ADDR:PORT, then "<peer ip> <peer port> <length>"
for every datagram, and answers the sender with "NAME <peer ip>:<peer port> "
followed by the payload (with --len: "NAME <peer ip>:<peer port> len=<length>"
instead, for datagrams too large to send back).
"""

import socket
import sys


def main():
    name, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    only_len = sys.argv[4:] == ["--len"]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    print("ready", flush=True)
    while True:
        data, peer = s.recvfrom(65535)
        print(peer[0], peer[1], len(data), flush=True)
        head = b"%s %s:%d" % (name.encode(), peer[0].encode(), peer[1])
        tail = b" len=%d" % len(data) if only_len else b" " + data
        s.sendto(head + tail, peer)


if __name__ == "__main__":
    main()
