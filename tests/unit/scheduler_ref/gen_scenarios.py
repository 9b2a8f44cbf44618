#!/usr/bin/env python3
"""Seeded random scenario generator for dplb-schedsim and ipvs_model.py.

A scenario holds thousands of events: server adds (fresh addresses and
addresses deleted earlier), edits (to weight 0, to the same values, threshold
changes in every combination IPVS accepts), deletes (down to an empty
service), connections from varied clients, ports and destination addresses,
established/fin/closed transitions and clock jumps from seconds to days.

The generator only writes commands IPVS accepts (it tracks the servers and
never sends an add of a present server, an edit/del of an absent one or
l_threshold > u_threshold). It never lets the clock land on a multiple of 60 s:
lblc/lblcr's periodic timer fires there, and a packet in the same jiffy as the
timer has no defined order in the kernel either.

    gen_scenarios.py --sched wrr --seed 7 [--flags sh-port,...] [--events N] [--proto udp]
"""

import argparse
import random
import sys

SCHEDULERS = ["rr", "wrr", "lc", "wlc", "sed", "nq", "lblc", "lblcr", "dh", "sh", "mh", "fo",
              "ovf"]

# Every scheduler with each flag combination it reads, and the protocol.
COMBINATIONS = (
    [(s, (), "tcp") for s in SCHEDULERS if s not in ("sh", "mh")]
    + [("sh", f, "tcp") for f in ((), ("sh-fallback",), ("sh-port",), ("sh-fallback", "sh-port"))]
    + [("mh", f, "tcp") for f in ((), ("mh-fallback",), ("mh-port",), ("mh-fallback", "mh-port"))]
    # UDP connections never become active: one run each for the schedulers
    # that read activeconns.
    + [(s, (), "udp") for s in ("lc", "wlc", "sed", "nq", "ovf", "lblc", "lblcr")])

VIP = "10.0.0.100"

# small: 1..5 (activeconns exceed weights: lblc/ovf rules); mixed: up to 1000;
# big: up to 65535 (mh weight shift); gcd: all multiples of 2 (wrr di, mh gcd).
PROFILES = ["small", "mixed", "big", "gcd"]


class _Gen:
    def __init__(self, sched, flags, seed, events, proto):
        self.r = random.Random("%s/%s/%s/%d" % (sched, ",".join(flags), proto, seed))
        self.sched = sched
        self.flags = flags
        self.events = events
        self.proto = proto
        self.out = []
        self.servers = {}  # name -> [weight, u, l]
        self.deleted = []
        self.open_ids = []  # conn ids not closed yet (bound or not)
        self.next_id = 1
        self.now = 0
        r = self.r
        # Weight profile of the scenario: consecutive seeds walk through all
        # four, so any four seeds cover each combination with each profile.
        self.profile = PROFILES[(seed - 1) % len(PROFILES)]
        if sched in ("wrr",) and self.profile == "big":
            # A failing wrr pick walks mw/di passes: keep it affordable.
            self.profile = "mixed"
        # Server candidates: some share an address on another port (mh hashes
        # the port too).
        n_addr = r.randint(6, 14)
        self.pool = []
        for i in range(n_addr):
            ip = "10.1.%d.%d" % (r.randint(0, 3), r.randint(1, 254))
            self.pool.append("%s:%d" % (ip, 80))
            if r.random() < 0.3:
                self.pool.append("%s:%d" % (ip, r.choice([8080, 443, 81])))
        self.pool = list(dict.fromkeys(self.pool))
        # Clients: a recurring set plus fresh random ones.
        self.clients = ["192.168.%d.%d" % (r.randint(0, 255), r.randint(1, 254))
                        for _ in range(r.randint(20, 200))]
        self.dsts = ["172.16.%d.%d" % (r.randint(0, 15), r.randint(1, 254))
                     for _ in range(r.randint(5, 60))]
        self.live_target = r.randint(10, 150)

    def weight(self):
        r = self.r
        if r.random() < 0.12:
            return 0
        p = self.profile
        if p == "small":
            return r.randint(1, 5)
        if p == "mixed":
            return r.choice([r.randint(1, 10), r.randint(1, 100), r.randint(1, 1000)])
        if p == "gcd":
            return r.choice([2, 4, 6, 8, 12, 16, 24, 30])
        return r.choice([r.randint(1, 10), r.randint(100, 65535), 65535])

    def thresholds(self):
        r = self.r
        if r.random() < 0.55:
            return 0, 0
        u = r.randint(1, 15)
        l = 0 if r.random() < 0.5 else r.randint(0, u)
        return u, l

    def emit(self, line):
        self.out.append(line)

    def add(self):
        r = self.r
        free = [s for s in self.pool if s not in self.servers]
        if not free:
            return False
        readd = [s for s in self.deleted if s in free]
        name = r.choice(readd) if readd and r.random() < 0.4 else r.choice(free)
        w = self.weight()
        u, l = self.thresholds()
        line = "add %s weight %d" % (name, w)
        if u or r.random() < 0.2:
            line += " uthreshold %d" % u
        if l or (u and r.random() < 0.3):
            line += " lthreshold %d" % l
        self.servers[name] = [w, u, l]
        self.emit(line)
        return True

    def edit(self):
        r = self.r
        if not self.servers:
            return False
        name = r.choice(sorted(self.servers))
        w, u, l = self.servers[name]
        kind = r.random()
        if kind < 0.1:
            nw = w  # an edit that changes nothing still resets wrr
        else:
            nw = self.weight()
        line = "edit %s weight %d" % (name, nw)
        choice = r.random()
        if choice < 0.45:
            pass  # thresholds kept
        elif choice < 0.6:
            nu = r.choice([0, r.randint(max(1, l), 15)]) if l == 0 else r.randint(l, 15)
            line += " uthreshold %d" % nu
            u = nu
        elif choice < 0.7:
            nl = r.randint(0, u)
            line += " lthreshold %d" % nl
            l = nl
        elif choice < 0.85:
            u, l = self.thresholds()
            line += " uthreshold %d lthreshold %d" % (u, l)
        else:
            u, l = 0, 0
            line += " uthreshold 0 lthreshold 0"
        self.servers[name] = [nw, u, l]
        self.emit(line)
        return True

    def delete(self):
        if not self.servers:
            return False
        name = self.r.choice(sorted(self.servers))
        del self.servers[name]
        self.deleted.append(name)
        self.emit("del %s" % name)
        return True

    def conn(self):
        r = self.r
        cid = "c%d" % self.next_id
        self.next_id += 1
        if r.random() < 0.7:
            ip = r.choice(self.clients)
        else:
            ip = "%d.%d.%d.%d" % (r.randint(1, 223), r.randint(0, 255), r.randint(0, 255),
                                  r.randint(1, 254))
        port = r.choice([r.randint(1024, 65535), r.randint(1024, 1100), 0, 65535])
        line = "conn %s %s:%d" % (cid, ip, port)
        uses_dst = self.sched in ("lblc", "lblcr", "dh")
        if (uses_dst and r.random() < 0.8) or (not uses_dst and r.random() < 0.05):
            line += " dst %s" % r.choice(self.dsts)
        self.open_ids.append(cid)
        self.emit(line)
        return True

    def state(self, cmd):
        if not self.open_ids:
            return False
        r = self.r
        # Prefer recent connections so established/fin/closed follow their conn.
        idx = len(self.open_ids) - 1 - min(int(r.expovariate(0.05)), len(self.open_ids) - 1)
        cid = self.open_ids[idx]
        if cmd == "closed":
            self.open_ids.pop(idx)
        self.emit("%s %s" % (cmd, cid))
        return True

    def time(self):
        r = self.r
        x = r.random()
        if x < 0.55:
            dt = r.randint(1, 120)
        elif x < 0.75:
            dt = r.randint(120, 3600)
        elif x < 0.88:
            dt = r.randint(3600, 86400)
        elif x < 0.94:
            dt = 86400  # exactly lblc(r)_expiration after a conn
        else:
            dt = r.randint(86400, 3 * 86400)
        if (self.now + dt) % 60 == 0:
            dt += r.randint(1, 59)
        self.now += dt
        self.emit("time %d" % dt)
        return True

    def generate(self):
        r = self.r
        flags = (" flags " + ",".join(self.flags)) if self.flags else ""
        self.emit("# generated: sched=%s flags=%s proto=%s profile=%s" %
                  (self.sched, ",".join(self.flags) or "-", self.proto, self.profile))
        self.emit("service %s %s:80 sched %s%s" % (self.proto, VIP, self.sched, flags))
        for _ in range(r.randint(0, 6)):
            self.add()
        # mh rebuilds a 65537-slot table on every add/edit/del: fewer of those.
        config_rate = 0.015 if self.sched == "mh" else 0.11
        emitted = 0
        while emitted < self.events:
            x = r.random()
            n_srv = len(self.servers)
            if x < config_rate:
                y = r.random()
                if n_srv == 0 or (y < 0.35 and n_srv < 10):
                    ok = self.add()
                elif y < 0.75:
                    ok = self.edit()
                else:
                    ok = self.delete()
            elif x < config_rate + 0.03:
                ok = self.time()
            else:
                live = len(self.open_ids)
                y = r.random()
                close_bias = 0.1 if live < self.live_target else 0.35
                if y < 0.42:
                    ok = self.conn()
                elif y < 0.42 + 0.25:
                    ok = self.state("established")
                elif y < 0.42 + 0.25 + 0.08:
                    ok = self.state("fin")
                elif y < 0.75 + close_bias:
                    ok = self.state("closed")
                else:
                    ok = self.conn()
            if ok:
                emitted += 1
        return self.out


def generate_lblc_churn(seed=0, replacements=17000, tail_events=3000):
    """lblc with entry replacements past 16384. ip_vs_lblc_new() replaces an
    entry without decrementing tbl->entries, so the kernel's count passes
    max_size (16 * 1024) although the table holds a few dozen entries; from
    then on every timer tick runs the partial expiry (entries unused for
    ENTRY_TIMEOUT = 6 min) and the 30-minute full check never runs again. The
    tail is random traffic with minute-scale clock jumps that exposes it."""
    r = random.Random("lblc-churn/%d" % seed)
    out = ["# generated: lblc entry-count churn, seed %d" % seed,
           "service tcp %s:80 sched lblc" % VIP,
           "add 10.2.0.1:80 weight 1", "add 10.2.0.2:80 weight 1", "add 10.2.0.3:80 weight 1"]
    dsts = ["172.17.%d.%d" % (i // 200, 1 + i % 200) for i in range(40)]
    servers = ["10.2.0.1:80", "10.2.0.2:80", "10.2.0.3:80"]
    cid = 0
    done = 0
    now = 0
    open_ids = []
    rnd = 0
    while done < replacements:
        # Leave one server up: every entry that points elsewhere is replaced
        # on its next use (weight 0 fails the cache check), and the next
        # round moves them all again.
        keep = servers[rnd % len(servers)]
        rnd += 1
        off = [s for s in servers if s != keep]
        for s_ in off:
            out.append("edit %s weight 0" % s_)
        for d in dsts:
            cid += 1
            out.append("conn r%d 192.168.9.%d:%d dst %s" % (cid, r.randint(1, 254),
                                                            r.randint(1024, 65535), d))
            open_ids.append("r%d" % cid)
            done += 1
        for s_ in off:
            out.append("edit %s weight 1" % s_)
        while len(open_ids) > 30:
            out.append("closed %s" % open_ids.pop(r.randrange(len(open_ids))))
        step = r.randint(5, 50)
        if (now + step) % 60 == 0:
            step += 1
        now += step
        out.append("time %d" % step)
    tail = _Gen("lblc", (), seed, tail_events, "tcp")
    tail.servers = {s: [1, 0, 0] for s in servers}
    tail.pool = servers + ["10.2.0.4:80", "10.2.0.5:80"]
    tail.dsts = dsts
    tail.now = now
    for line in tail.generate()[2:]:
        if line.startswith("time "):
            # Minutes rather than days: around the 6-minute partial timeout.
            dt = r.randint(60, 900)
            if (tail.now + dt) % 60 == 0:
                dt += 1
            tail.now += dt
            line = "time %d" % dt
        out.append(line)
    return out


def generate_table_overflow(sched, seed=0, distinct=18000, revisits=3000):
    """lblc/lblcr with more than max_size (16384) live entries: the periodic
    timer then runs the partial check, which walks the 1024 hash buckets
    from the rover, drops entries unused for 6 minutes and stops once `goal`
    entries went. Revisiting old destinations shows which ones survived."""
    r = random.Random("overflow/%s/%d" % (sched, seed))
    out = ["# generated: %s table overflow, seed %d" % (sched, seed),
           "service tcp %s:80 sched %s" % (VIP, sched)]
    servers = ["10.3.0.%d:80" % i for i in range(1, 6)]
    for i, s_ in enumerate(servers):
        out.append("add %s weight %d" % (s_, 1 + i))
    dsts = []
    used = set()
    while len(dsts) < distinct:
        d = "%d.%d.%d.%d" % (r.randint(11, 126), r.randint(0, 255), r.randint(0, 255),
                             r.randint(1, 254))
        if d not in used:
            used.add(d)
            dsts.append(d)
    now = 0
    cid = 0
    open_ids = []

    def step(lo, hi):
        nonlocal now
        dt = r.randint(lo, hi)
        if (now + dt) % 60 == 0:
            dt += 1
        now += dt
        out.append("time %d" % dt)

    def conn(d):
        nonlocal cid
        cid += 1
        out.append("conn o%d 192.168.%d.%d:%d dst %s" % (cid, r.randint(0, 255),
                                                       r.randint(1, 254),
                                                       r.randint(1024, 65535), d))
        open_ids.append("o%d" % cid)
        if len(open_ids) > 200:
            out.append("closed %s" % open_ids.pop(r.randrange(len(open_ids))))

    for i, d in enumerate(dsts):
        conn(d)
        if i % 100 == 99:
            step(3, 9)
    for _ in range(revisits):
        conn(r.choice(dsts))
        if r.random() < 0.02:
            step(20, 200)
        if r.random() < 0.01:
            s_ = r.choice(servers)
            out.append("edit %s weight %d" % (s_, r.randint(0, 6)))
    return out


def generate(sched, flags=(), seed=0, events=3000, proto="tcp"):
    """Returns the scenario as a list of lines."""
    if sched not in SCHEDULERS:
        raise ValueError("unknown scheduler %s" % sched)
    return _Gen(sched, tuple(flags), seed, events, proto).generate()


def main(argv=None):
    ap = argparse.ArgumentParser(description="Generate a random IPVS scheduler scenario.")
    ap.add_argument("--sched", required=True, choices=SCHEDULERS)
    ap.add_argument("--flags", default="", help="comma-separated service flags")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--proto", choices=["tcp", "udp"], default="tcp")
    args = ap.parse_args(argv)
    flags = tuple(f for f in args.flags.split(",") if f)
    sys.stdout.write("\n".join(generate(args.sched, flags, args.seed, args.events, args.proto)))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
