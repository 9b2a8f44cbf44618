#!/usr/bin/env python3
"""dplbd's /metrics after known traffic: the counters equal what was sent.

dplbd runs on a pcap port with metrics on 127.0.0.1:0 (the kernel picks the
port; the test reads it from `dplbadm --status`). The conversation is the one
of tests/packet/daemon_pcap (imported from there: same frames, same
expectations); the expected counter values are worked out here from the
frames themselves (IP total lengths, directions). The live scrape must pass
`promtool check metrics` with no complaint, and the exposition must be well
formed (HELP/TYPE once per family, a family's samples together, every drop
reason present).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "daemon_pcap"))
import pcap_daemon_test as pd  # noqa: E402
import check_dashboards  # noqa: E402

SKIP = 77

# The daemon_pcap test's configuration and conversation, with metrics on a
# free loopback port.
CONFIG = pd.CONFIG.replace('metrics: {{ listen: "" }}', 'metrics: {{ listen: "127.0.0.1:0" }}')
assert CONFIG != pd.CONFIG

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


# One failure type for both files: pd's helpers raise it too.
Failure = pd.Failure
expect = pd.expect


def parse(text):
    """{(name, (sorted label pairs)): value}; checks the format's structure."""
    samples = {}
    helps, types, seen_families = {}, {}, []
    current = None
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            expect(name not in helps, "line %d: second HELP for %s" % (n, name))
            helps[name] = line
            current = name
            seen_families.append(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            expect(name == current and name not in types, "line %d: TYPE out of place" % n)
            types[name] = typ
            continue
        m = SAMPLE.match(line)
        expect(m is not None, "line %d does not parse: %r" % (n, line))
        name, labels_text, value = m.groups()
        family = name
        if types.get(current) in ("histogram", "summary"):
            family = re.sub(r"_(bucket|sum|count)$", "", name)
        expect(family == current, "line %d: sample of %s outside its family %s" % (n, name, current))
        labels = []
        if labels_text:
            pos = 0
            while pos < len(labels_text):
                lm = LABEL.match(labels_text, pos)
                expect(lm is not None, "line %d: bad labels %r" % (n, labels_text))
                labels.append((lm.group(1), lm.group(2)))
                pos = lm.end()
        key = (name, tuple(sorted(labels)))
        expect(key not in samples, "line %d: duplicate series %r" % (n, key))
        samples[key] = float(value)
        if types[current] == "counter":
            expect(current.endswith("_total"), "counter %s lacks _total" % current)
    return samples, types


def get(samples, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    expect(key in samples, "no series %s%s" % (name, labels))
    return samples[key]


def http(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), ""


def drop_reasons(source_dir):
    with open(os.path.join(source_dir, "modes/common/include/dplb/pkt/drop_reason.h")) as f:
        return re.findall(r"^\s*X\(\w+, (\w+),", f.read(), re.M)


def promtool_check(promtool, text):
    out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=60)
    complaints = (out.stdout + out.stderr).strip()
    expect(out.returncode == 0 and not complaints,
           "promtool check metrics (rc %d):\n%s" % (out.returncode, complaints))


def expected_traffic(steps):
    """Per (service port, server, server port): conns, in/out packets and IP bytes.

    Only frames dplbd forwarded count (expected output not None). Client to
    VIP is "in"; real server to client is "out".
    """
    totals = {}
    for frame, out in steps:
        if out is None or "arp_op" in out:
            continue
        d = pd.decode(frame)
        iplen = int.from_bytes(frame[16:18], "big")
        if d["dst"] == pd.VIP:
            key = (d["dport"], out["dst"], out["dport"])
            direction = "in"
        else:
            key = (out["sport"], d["src"], d["sport"])
            direction = "out"
        t = totals.setdefault(key, {"conns": 0, "in_packets": 0, "out_packets": 0,
                                    "in_bytes": 0, "out_bytes": 0, "proto": d["proto"]})
        t[direction + "_packets"] += 1
        t[direction + "_bytes"] += iplen
        syn = d["proto"] == 6 and d["flags"] & pd.SYN and not d["flags"] & pd.ACK
        first_udp = d["proto"] == 17 and direction == "in" and t["in_packets"] == 1
        if direction == "in" and (syn or first_udp):
            t["conns"] += 1
    return totals


def check_endpoint(base, log_text):
    expect(re.search(r"metrics on http://%s/metrics" % re.escape(base[len("http://"):]), log_text),
           "dplbd did not log the bound metrics address")
    status, ctype, body = http(base + "/metrics")
    # prometheus-cpp's exposer: text/plain (Prometheus reads it as the text
    # format 0.0.4), its own exposer_* families next to dplb's.
    expect(status == 200 and ctype.startswith("text/plain"),
           "GET /metrics: %s %s" % (status, ctype))
    expect("# TYPE dplb_build_info gauge" in body, "no build info in %r" % body[:200])
    expect("# TYPE exposer_scrapes_total counter" in body, "no exposer families")
    for path in ("/", "/metric", "/other"):
        expect(http(base + path)[0] == 404, "GET %s is not 404" % path)


def run(args, d):
    sock = os.path.join(d, "dplb.sock")
    # Phase 1: learn the port's MAC; check the endpoint's paths and methods.
    proc, log = pd.start_dplbd(args, d, [], CONFIG, "met")
    try:
        status = pd.wait_status(proc, sock, 0)
        pd.LB_MAC = bytes.fromhex(status["ports"][0]["mac"].replace(":", ""))
        addr = status.get("metrics", "")
        expect(re.fullmatch(r"127\.0\.0\.1:\d+", addr) and not addr.endswith(":0"),
               "status 'metrics' is %r, expected the bound 127.0.0.1:port" % addr)
        log.flush()
        log.seek(0)
        check_endpoint("http://" + addr, log.read())
        pd.stop_dplbd(proc)
    except Failure:
        log.flush()
        log.seek(0)
        print("---- dplbd log ----\n" + log.read())
        raise
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # Phase 2: the conversation, then the scrape.
    steps = pd.scenario()
    frames = [s[0] for s in steps]
    proc, log = pd.start_dplbd(args, d, frames, CONFIG, "met")
    try:
        status = pd.wait_status(proc, sock, len(steps))
        base = "http://" + status["metrics"]
        code, _, text = http(base + "/metrics")
        expect(code == 200, "scrape status %d" % code)
        samples, types = parse(text)
        promtool_check(args.promtool, text)
        problems = check_dashboards.check_names(args.source_dir, types)
        expect(not problems, "dashboards/rules name metrics dplbd does not expose:\n" +
               "\n".join(problems))

        get(samples, "dplb_build_info", version=status["version"])
        want = expected_traffic(steps)
        services = {80: ("web", "tcp"), 53: ("dns", "udp")}
        svc_sum = {}
        for (vport, rs, rsport), t in sorted(want.items()):
            name, proto = services[vport]
            sl = dict(service=name, vip=pd.VIP, port=str(vport), protocol=proto)
            rl = dict(sl, server=rs, server_port=str(rsport))
            acc = svc_sum.setdefault(vport, {})
            for k in ("conns", "in_packets", "out_packets", "in_bytes", "out_bytes"):
                metric = "connections" if k == "conns" else k
                got = get(samples, "dplb_real_server_%s_total" % metric, **rl)
                expect(got == t[k], "%s %s: %s = %s, sent %s" % (name, rs, metric, got, t[k]))
                acc[k] = acc.get(k, 0) + t[k]
            # Both TCP flows ended with FINs and the UDP flow has no state:
            # every connection is inactive (IPVS InActConn).
            expect(get(samples, "dplb_real_server_active_connections", **rl) == 0, "active")
            expect(get(samples, "dplb_real_server_inactive_connections", **rl) == 1, "inactive")
            expect(get(samples, "dplb_real_server_weight", **rl) == 1, "weight")
            expect(get(samples, "dplb_real_server_configured_weight", **rl) == 1, "cfg weight")
            expect(get(samples, "dplb_real_server_up", **rl) == 1, "up")
            expect(get(samples, "dplb_real_server_health_checked", **rl) == 0, "checked")
            expect(get(samples, "dplb_real_server_health_transitions_total", **rl) == 0, "trans")
        for vport, acc in svc_sum.items():
            name, proto = services[vport]
            sl = dict(service=name, vip=pd.VIP, port=str(vport), protocol=proto)
            for k, v in acc.items():
                metric = "connections" if k == "conns" else k
                got = get(samples, "dplb_service_%s_total" % metric, **sl)
                expect(got == v, "service %s: %s = %s, sent %s" % (name, metric, got, v))
            expect(get(samples, "dplb_service_servers", **sl) == (2 if vport == 80 else 1), "n")
            expect(get(samples, "dplb_service_servers_up", **sl) == (2 if vport == 80 else 1), "up")
            expect(get(samples, "dplb_service_live_weight", **sl) == (2 if vport == 80 else 1), "lw")
            expect(get(samples, "dplb_service_sorry_active", **sl) == 0, "sorry")
        expect(svc_sum[80]["conns"] == 2 and svc_sum[53]["conns"] == 1, "scenario changed?")

        # Ports and workers: every input frame was received.
        rx_bytes = sum(len(f) for f in frames)
        expect(get(samples, "dplb_port_rx_packets_total", port="arm0") == len(frames), "port rx")
        expect(get(samples, "dplb_port_rx_bytes_total", port="arm0") == rx_bytes, "port rx bytes")
        get(samples, "dplb_port_info", port="arm0", mac=status["ports"][0]["mac"])
        expect(get(samples, "dplb_worker_rx_packets_total", worker="0") == len(frames), "wk rx")
        forwarded = sum(1 for s in steps if s[1] is not None)
        wtx = get(samples, "dplb_worker_tx_packets_total", worker="0")
        # Plus the gratuitous ARP for the VIP sent at start.
        expect(wtx == forwarded + 1, "worker tx %s, expected %d" % (wtx, forwarded + 1))
        expect(get(samples, "dplb_arp_replies_sent_total", worker="0") == 1, "arp reply")
        # The three static neighbours (the count is refreshed every 100 ms).
        deadline = time.monotonic() + 10
        while get(samples, "dplb_neighbour_entries", worker="0") != 3:
            expect(time.monotonic() < deadline, "neighbour entries %s, expected 3" %
                   get(samples, "dplb_neighbour_entries", worker="0"))
            time.sleep(0.05)
            samples, _ = parse(http(base + "/metrics")[2])

        # Drops: every reason present, exactly the two the scenario causes.
        reasons = drop_reasons(args.source_dir)
        expect(len(reasons) > 40, "drop reasons not found in the header")
        for r in reasons:
            wanted = 1 if r in ("not_syn", "bad_ip_checksum") else 0
            expect(get(samples, "dplb_drops_total", reason=r) == wanted, "drops %s" % r)
        expect(sum(1 for k in samples if k[0] == "dplb_drops_total") == len(reasons), "reasons")

        # Connection table: two TCP and one UDP entry, none expired yet.
        expect(get(samples, "dplb_conn_table_entries") == 3, "conn entries")
        expect(get(samples, "dplb_conn_table_capacity") == status["conn_table_size"], "capacity")
        expect(get(samples, "dplb_conn_table_new_total", worker="0") == 3, "new conns")
        expect(get(samples, "dplb_conn_table_expired_total", worker="0") == 0, "expired")

        # A reload is counted and time-stamped.
        expect(get(samples, "dplb_config_reloads_total", result="success") == 0, "reloads")
        expect(pd.admin(os.path.join(d, "dplb.sock"), "reload")["ok"], "reload refused")
        samples, _ = parse(http(base + "/metrics")[2])
        expect(get(samples, "dplb_config_reloads_total", result="success") == 1, "reload count")
        expect(get(samples, "dplb_config_reloads_total", result="failure") == 0, "failures")
        expect(get(samples, "dplb_config_last_reload_timestamp_seconds") > 1.6e9, "reload time")
        expect(get(samples, "dplb_config_last_reload_successful") == 1, "reload ok")

        pd.stop_dplbd(proc)
        out = pd.read_pcap(os.path.join(d, "out.pcap"))
        expect(len(out) == wtx, "out.pcap has %d frames, the worker counted %d" % (len(out), wtx))
        print("metrics pcap test: %d frames in, %d series scraped, %d families, promtool clean"
              % (len(frames), len(samples), len(types)))
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
    ap.add_argument("--promtool", default="")
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    if not args.promtool:
        print("SKIP: promtool not installed (Debian package prometheus; scripts/setup.sh)")
        return SKIP
    with tempfile.TemporaryDirectory(prefix="dplb-metrics-") as d:
        try:
            return run(args, d)
        except Failure as e:
            print("FAIL:", e)
            return 1


if __name__ == "__main__":
    sys.exit(main())
