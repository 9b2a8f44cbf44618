#!/usr/bin/env python3
"""dplbd on pcap ports: a pcap in, a pcap out, checked packet by packet.

A one-armed NAT set-up (clients and real servers behind one port) so that a
whole conversation, both directions, sits in ONE rx pcap in order. Frames are
built and checked here with independent checksum code (stdlib only). The test
waits for dplbd to have received every input frame by polling its admin
socket (bounded), then stops it with SIGTERM and reads the output pcap.
"""
import argparse
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

LB_MAC = None  # the pcap port's own MAC, learned from a first run (the PMD cannot set one)
CLIENT_MAC = bytes.fromhex("02c100000005")
RS1_MAC = bytes.fromhex("02000000010b")
RS2_MAC = bytes.fromhex("02000000010c")
CLIENT, VIP, LB_ADDR = "10.0.0.5", "10.0.0.100", "10.0.0.2"
RS1, RS2 = "10.0.0.11", "10.0.0.12"
SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10


def ip(a):
    return socket.inet_aton(a)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src, dst, proto, l4, ttl=64, ident=0x1234, bad_csum=False):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident, 0, ttl, proto, 0,
                      ip(src), ip(dst))
    c = 0xDEAD if bad_csum else csum(hdr)
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + l4


def tcp(src, dst, sport, dport, flags, seq, ack, payload=b""):
    h = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    c = csum(ip(src) + ip(dst) + struct.pack("!BBH", 0, 6, len(h)) + h)
    return h[:16] + struct.pack("!H", c) + h[18:]


def udp(src, dst, sport, dport, payload):
    h = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    c = csum(ip(src) + ip(dst) + struct.pack("!BBH", 0, 17, len(h)) + h) or 0xFFFF
    return h[:6] + struct.pack("!H", c) + h[8:]


def eth(dst, src, etype, body):
    f = dst + src + struct.pack("!H", etype) + body
    return f + b"\0" * max(0, 60 - len(f))


def arp_request(sha, spa, tpa):
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, sha, ip(spa), b"\0" * 6, ip(tpa))
    return eth(b"\xff" * 6, sha, 0x0806, body)


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1000 + i, 0, len(fr), len(fr)))
            f.write(fr)


def read_pcap(path):
    frames = []
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        frames.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return frames


def decode(f):
    """Field view of an Ethernet/IPv4/TCP|UDP frame, checksums verified."""
    d = {"eth_dst": f[0:6], "eth_src": f[6:12], "etype": struct.unpack("!H", f[12:14])[0]}
    if d["etype"] == 0x0806:
        op, = struct.unpack("!H", f[20:22])
        d.update(arp_op=op, sha=f[22:28], spa=socket.inet_ntoa(f[28:32]), tha=f[32:38],
                 tpa=socket.inet_ntoa(f[38:42]))
        return d
    h = f[14:34]
    ihl = (h[0] & 0x0F) * 4
    total, = struct.unpack("!H", h[2:4])
    d.update(ttl=h[8], proto=h[9], src=socket.inet_ntoa(h[12:16]), dst=socket.inet_ntoa(h[16:20]),
             ip_ok=csum(f[14:14 + ihl]) == 0)
    l4 = f[14 + ihl:14 + total]
    pseudo = h[12:20] + struct.pack("!BBH", 0, h[9], len(l4))
    if h[9] == 6:
        sport, dport, seq, ack, off, flags = struct.unpack("!HHIIBB", l4[:14])
        d.update(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags,
                 payload=l4[(off >> 4) * 4:], l4_ok=csum(pseudo + l4) == 0)
    elif h[9] == 17:
        sport, dport, length, c = struct.unpack("!HHHH", l4[:8])
        d.update(sport=sport, dport=dport, payload=l4[8:], l4_ok=(c == 0 or csum(pseudo + l4) == 0))
    return d


class Failure(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failure(what)


def admin(path, cmd):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.sendall((json.dumps({"cmd": cmd}) + "\n").encode())
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return json.loads(buf)


CONFIG = """
dataplane:
  lcores: "0-1"
  eal_args: ["--no-huge", "-m", "256", "--no-pci", "--file-prefix={prefix}", "--log-level=warning"]
  exception_path: false
  ports:
    - name: arm0
      device: "net_pcap0,rx_pcap={dir}/in.pcap,tx_pcap={dir}/out.pcap"
      addresses: [10.0.0.2/24]
  neighbours:
    - {{ ip: 10.0.0.5, mac: "02:c1:00:00:00:05" }}
    - {{ ip: 10.0.0.11, mac: "02:00:00:00:01:0b" }}
    - {{ ip: 10.0.0.12, mac: "02:00:00:00:01:0c" }}
services:
  - name: web
    vip: 10.0.0.100
    port: 80
    protocol: tcp
    scheduler: rr
    forward: nat
    real_servers:
      - {{ address: 10.0.0.11, port: 8080 }}
      - {{ address: 10.0.0.12, port: 8080 }}
  - name: dns
    vip: 10.0.0.100
    port: 53
    protocol: udp
    scheduler: rr
    forward: nat
    real_servers:
      - {{ address: 10.0.0.11, port: 5353 }}
admin: {{ socket: {dir}/dplb.sock }}
metrics: {{ listen: "" }}
"""


def scenario():
    """(input frame, expected output as a dict of fields, or None = dropped)."""
    steps = []

    def c2v(sport, flags, seq, ack, payload=b""):
        return eth(LB_MAC, CLIENT_MAC, 0x0800,
                   ipv4(CLIENT, VIP, 6, tcp(CLIENT, VIP, sport, 80, flags, seq, ack, payload)))

    def r2c(rs, rmac, dport, flags, seq, ack, payload=b""):
        return eth(LB_MAC, rmac, 0x0800,
                   ipv4(rs, CLIENT, 6, tcp(rs, CLIENT, 8080, dport, flags, seq, ack, payload)))

    def to_rs(rs, rmac, sport, flags, seq, ack, payload=b""):
        return dict(eth_dst=rmac, eth_src=LB_MAC, src=CLIENT, dst=rs, ttl=63, sport=sport,
                    dport=8080, flags=flags, seq=seq, ack=ack, payload=payload)

    def to_client(dport, flags, seq, ack, payload=b""):
        return dict(eth_dst=CLIENT_MAC, eth_src=LB_MAC, src=VIP, dst=CLIENT, ttl=63, sport=80,
                    dport=dport, flags=flags, seq=seq, ack=ack, payload=payload)

    # rr walks IPVS's list newest-added first: 10.0.0.12 (added last), then 10.0.0.11.
    for sport, rs, rmac in ((40000, RS2, RS2_MAC), (40001, RS1, RS1_MAC)):
        steps += [
            (c2v(sport, SYN, 100, 0), to_rs(rs, rmac, sport, SYN, 100, 0)),
            (r2c(rs, rmac, sport, SYN | ACK, 900, 101), to_client(sport, SYN | ACK, 900, 101)),
            (c2v(sport, ACK, 101, 901), to_rs(rs, rmac, sport, ACK, 101, 901)),
            (c2v(sport, PSH | ACK, 101, 901, b"GET / HTTP/1.0\r\n\r\n"),
             to_rs(rs, rmac, sport, PSH | ACK, 101, 901, b"GET / HTTP/1.0\r\n\r\n")),
            (r2c(rs, rmac, sport, PSH | ACK, 901, 119, b"HTTP/1.0 200 OK\r\n\r\nhi"),
             to_client(sport, PSH | ACK, 901, 119, b"HTTP/1.0 200 OK\r\n\r\nhi")),
            (r2c(rs, rmac, sport, FIN | ACK, 922, 119), to_client(sport, FIN | ACK, 922, 119)),
            (c2v(sport, FIN | ACK, 119, 923), to_rs(rs, rmac, sport, FIN | ACK, 119, 923)),
        ]
    # UDP: the first datagram creates the connection; the reply is translated back.
    q = eth(LB_MAC, CLIENT_MAC, 0x0800, ipv4(CLIENT, VIP, 17, udp(CLIENT, VIP, 5000, 53, b"query")))
    steps.append((q, dict(eth_dst=RS1_MAC, src=CLIENT, dst=RS1, ttl=63, sport=5000, dport=5353,
                          payload=b"query")))
    a = eth(LB_MAC, RS1_MAC, 0x0800, ipv4(RS1, CLIENT, 17, udp(RS1, CLIENT, 5353, 5000, b"answer")))
    steps.append((a, dict(eth_dst=CLIENT_MAC, src=VIP, dst=CLIENT, ttl=63, sport=53, dport=5000,
                          payload=b"answer")))
    # Dropped and counted: a non-SYN without a connection, a bad IPv4 checksum.
    steps.append((c2v(40999, ACK, 1, 1), None))
    steps.append((eth(LB_MAC, CLIENT_MAC, 0x0800,
                      ipv4(CLIENT, VIP, 6, tcp(CLIENT, VIP, 40998, 80, SYN, 1, 0), bad_csum=True)),
                  None))
    # ARP for the VIP is answered from the port's MAC.
    steps.append((arp_request(CLIENT_MAC, CLIENT, VIP),
                  dict(eth_dst=CLIENT_MAC, eth_src=LB_MAC, arp_op=2, sha=LB_MAC, spa=VIP,
                       tha=CLIENT_MAC, tpa=CLIENT)))
    return steps


def start_dplbd(args, d, frames, config=CONFIG, name="pcap"):
    """dplbd on a pcap port replaying `frames`; `config` is formatted with the
    work dir and a unique EAL file prefix. Returns (process, log file)."""
    write_pcap(os.path.join(d, "in.pcap"), frames)
    cfg = os.path.join(d, name + ".yaml")
    with open(cfg, "w") as f:
        f.write(config.format(dir=d, prefix="dplb%s%d" % (name, os.getpid())))
    log = open(os.path.join(d, "dplbd.log"), "w+")
    proc = subprocess.Popen([args.dplbd, "-c", cfg], stdout=log, stderr=subprocess.STDOUT)
    return proc, log


def wait_status(proc, sock, rx_wanted):
    """Polls the admin socket (bounded) until dplbd has received rx_wanted frames."""
    status = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failure("dplbd exited early with %d" % proc.returncode)
        if os.path.exists(sock):
            try:
                status = admin(sock, "status")
                if status["rx_packets"] >= rx_wanted:
                    return status
            except OSError:
                pass
        time.sleep(0.05)
    raise Failure("dplbd did not receive %d frames in time: %s" % (rx_wanted, status))


def stop_dplbd(proc):
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=20)
    expect(rc == 0, "dplbd exit code %d" % rc)


def check_listing(args, sock, status):
    """The counters and dplbadm's ipvsadm-format listing of the live daemon.

    Expected values worked out from the scenario: per TCP flow the client sent
    SYN, ACK, data, FIN (4 packets; IP lengths 40+40+58+40) and the server
    SYN-ACK, data, FIN (3; 40+61+40); both flows left ESTABLISHED with the
    FINs, so each server holds 1 inactive and 0 active connections; the UDP
    flow is 1 inactive connection on 10.0.0.11:5353.
    """
    lst = admin(sock, "list")
    expect(lst["ok"], lst)
    web = [x for x in lst["services"] if x["port"] == 80][0]
    expect(web["stats"] == {"conns": 2, "inpkts": 8, "outpkts": 6, "inbytes": 356,
                            "outbytes": 282}, "web stats: %s" % web["stats"])
    for rs in web["servers"]:
        expect((rs["active"], rs["inactive"]) == (0, 1), "counts of %s" % rs)
        expect(rs["stats"]["conns"] == 1 and rs["stats"]["inpkts"] == 4, "rs stats %s" % rs)
    if not args.dplbadm:
        return
    out = subprocess.run([args.dplbadm, "--socket", sock, "-L", "-n"], capture_output=True,
                         text=True, timeout=20)
    expect(out.returncode == 0, "dplbadm -L -n: %s" % out.stderr)
    row = "  -> %-28s %-7s %-6d %-10u %-10u"  # ipvsadm's server row format
    want = "\n".join([
        "dplb version %s (size=%d)" % (status["version"], status["conn_table_size"]),
        "Prot LocalAddress:Port Scheduler Flags",
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
        "TCP  10.0.0.100:80 rr",
        row % ("10.0.0.11:8080", "Masq", 1, 0, 1),
        row % ("10.0.0.12:8080", "Masq", 1, 0, 1),
        "UDP  10.0.0.100:53 rr",
        row % ("10.0.0.11:5353", "Masq", 1, 0, 1),
    ]) + "\n"
    expect(out.stdout == want, "dplbadm -L -n printed:\n%r\nexpected:\n%r" % (out.stdout, want))
    conns = subprocess.run([args.dplbadm, "--socket", sock, "-L", "-n", "-c"],
                           capture_output=True, text=True, timeout=20)
    lines = conns.stdout.splitlines()
    expect(conns.returncode == 0 and lines[0] == "IPVS connection entries" and len(lines) == 5,
           "dplbadm -L -n -c printed: %r" % conns.stdout)
    expect(any(l.startswith("UDP ") and "10.0.0.5:5000" in l and "10.0.0.11:5353" in l
               for l in lines), "UDP connection row missing: %r" % lines)
    # A change made with dplbadm reaches the running daemon; a bad one is
    # refused in ipvsadm's words and changes nothing.
    adm = [args.dplbadm, "--socket", sock]
    edit = subprocess.run(adm + ["-e", "-t", "10.0.0.100:80", "-r", "10.0.0.12:8080", "-m",
                                 "-w", "5"], capture_output=True, text=True, timeout=20)
    expect(edit.returncode == 0, "dplbadm -e: %s" % edit.stderr)
    dup = subprocess.run(adm + ["-a", "-t", "10.0.0.100:80", "-r", "10.0.0.11:8080", "-m"],
                         capture_output=True, text=True, timeout=20)
    expect(dup.returncode == 1 and "Destination already exists" in dup.stderr,
           "duplicate -a: rc %d %r" % (dup.returncode, dup.stderr))
    after = subprocess.run(adm + ["-L", "-n"], capture_output=True, text=True, timeout=20)
    expect(row % ("10.0.0.12:8080", "Masq", 5, 0, 1) in after.stdout.splitlines() and
           row % ("10.0.0.11:8080", "Masq", 1, 0, 1) in after.stdout.splitlines(),
           "after -e: %r" % after.stdout)


def run(args, d):
    global LB_MAC
    sock = os.path.join(d, "dplb.sock")
    # Phase 1: no input; learn the port's MAC from the admin socket.
    proc, log = start_dplbd(args, d, [])
    try:
        status = wait_status(proc, sock, 0)
        LB_MAC = bytes.fromhex(status["ports"][0]["mac"].replace(":", ""))
        stop_dplbd(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Phase 2: the conversation.
    steps = scenario()
    proc, log = start_dplbd(args, d, [s[0] for s in steps])
    try:
        status = wait_status(proc, sock, len(steps))
        expect(status["rx_packets"] == len(steps), "rx count %s" % status)
        expect(status["drops"].get("not_syn") == 1, "not_syn drop not counted: %s" % status)
        expect(status["drops"].get("bad_ip_checksum") == 1,
               "bad_ip_checksum drop not counted: %s" % status)
        expect(status["ports"][0]["rx_packets"] == len(steps), "port rx counter: %s" % status)
        check_listing(args, sock, status)
        bad = admin(sock, "no-such-command")
        expect(bad["ok"] is False and "unknown command" in bad["error"], bad)
        expect(oct(os.stat(sock).st_mode & 0o777) == "0o600", "admin socket must be mode 0600")
        stop_dplbd(proc)
        expect(not os.path.exists(sock), "admin socket left behind after stop")

        out = read_pcap(os.path.join(d, "out.pcap"))
        # First the gratuitous ARP for the VIP, then one frame per forwarded
        # input, in input order.
        garp = decode(out[0])
        expect(garp.get("arp_op") == 1 and garp["spa"] == VIP and garp["tpa"] == VIP,
               "first frame is not a gratuitous ARP for the VIP: %r" % garp)
        wanted = [s[1] for s in steps if s[1] is not None]
        got = out[1:]
        expect(len(got) == len(wanted), "expected %d frames out, got %d" % (len(wanted), len(got)))
        for i, (frame, exp) in enumerate(zip(got, wanted)):
            dec = decode(frame)
            for k, v in exp.items():
                expect(dec.get(k) == v,
                       "frame %d: %s = %r, expected %r" % (i + 1, k, dec.get(k), v))
            if dec["etype"] == 0x0800:
                expect(dec["ip_ok"], "frame %d: bad IPv4 checksum" % (i + 1))
                expect(dec["l4_ok"], "frame %d: bad L4 checksum" % (i + 1))
        print("pcap daemon test: %d frames in, %d out, every field and checksum verified"
              % (len(steps), len(out)))
        return 0
    except Failure:
        log.flush()
        log.seek(0)
        print("---- dplbd log ----\n" + log.read())
        raise
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dplbd", required=True)
    ap.add_argument("--dplbadm", default="")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dplb-pcap-") as d:
        try:
            return run(args, d)
        except Failure as e:
            print("FAIL:", e)
            return 1


if __name__ == "__main__":
    sys.exit(main())
