#!/usr/bin/env python3
"""Independent reference model of the Linux IPVS schedulers (Python 3, stdlib only).

It replays a dplb-schedsim scenario and prints one line per `conn` command,
`<id> <ip>:<port>` or `<id> none`, exactly like `dplb-schedsim`. It was written
from the kernel sources (net/netfilter/ipvs/ip_vs_*.c, lib/siphash.c,
include/linux/hash.h), not from dplb's C++ code, so that a disagreement between
the two is evidence of a bug in one of them. Comments name the kernel function
that decides each behaviour.

Scenario language (issue 3):
    service <tcp|udp> <vip>:<port> sched <name> [flags <f1,f2,...>]  (first, once)
    add <ip>:<port> weight <w> [uthreshold <u>] [lthreshold <l>]
    edit <ip>:<port> weight <w> [uthreshold <u>] [lthreshold <l>]
    del <ip>:<port>
    conn <id> <client_ip>:<client_port> [dst <ip>]
    established <id> | fin <id> | closed <id>
    time <seconds>                  (advance the clock by <seconds>)

Modelling choices (see README.md next to this file for the reasoning):
  * The clock starts at 0 on the `service` line; `time N` advances it by N
    seconds. lblc/lblcr arm their periodic timer at service creation
    (ip_vs_lblc_init_svc: jiffies + CHECK_EXPIRE_INTERVAL), so the timer fires
    at t = 60 s, 120 s, ...; a `time` command fires, in order and with
    `now` = the tick time, every tick in (old, new]. Ticks due at the same
    instant as a later command run before that command.
  * `del` removes the server from the list and its connections disappear; the
    deleted server object keeps its last counters, weight and flags (unbinding
    the vanished connections does not touch it). lblc/lblcr cache entries keep
    pointing at it, as the kernel's do (the entry holds a reference, the dest
    sits in the trash). Re-adding the same ip:port while a cache entry still
    references the old object revives that object (ip_vs_trash_get_dest) with
    no connections, so those entries become valid again.
  * UDP connections never become active: `established`/`fin` are no-ops on a
    udp service (only TCP's state table moves conns between the counters).
  * mh: dplb's table size is 65537 (not a kernel choice: the kernel offers the
    primes 251..131071, default 4093). IP_VS_MH_TAB_BITS, which bounds the
    weight shift, keeps the kernel's default 6 (CONFIG_IP_VS_MH_TAB_INDEX=12),
    so that a 4093-slot table reproduces a default kernel exactly. Both are
    command-line options.
  * lblc counts its entries as the kernel does: a replaced entry is not
    subtracted (ip_vs_lblc_new), so the count drifts up and, past 16384,
    switches the timer to the 6-minute partial check for good.
  * --variant makes a deliberate departure (VARIANTS) to diagnose whether the
    other side made that choice; it is never the reference.
"""

import argparse
import collections
import math
import sys

# How often each interesting branch ran: lets the differential test check that
# the random scenarios really reach them.
COVER = collections.Counter()

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF

# include/linux/hash.h
GOLDEN_RATIO_32 = 0x61C88647


def hash_32(val, bits):
    """hash_32(): multiply by the golden ratio, keep the top `bits` bits."""
    return ((val * GOLDEN_RATIO_32) & MASK32) >> (32 - bits)


# ---------------------------------------------------------------------------
# hsiphash as built on 64-bit kernels (lib/siphash.c): SipHash-1-3 with a
# 128-bit key, result truncated to u32.
# ---------------------------------------------------------------------------
_SIP_C0 = 0x736F6D6570736575
_SIP_C1 = 0x646F72616E646F6D
_SIP_C2 = 0x6C7967656E657261
_SIP_C3 = 0x7465646279746573


def _rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & MASK64


def _sipround(v0, v1, v2, v3):
    v0 = (v0 + v1) & MASK64
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 = (v2 + v3) & MASK64
    v3 = _rotl(v3, 16) ^ v2
    v0 = (v0 + v3) & MASK64
    v3 = _rotl(v3, 21) ^ v0
    v2 = (v2 + v1) & MASK64
    v1 = _rotl(v1, 17) ^ v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def hsiphash(data, key):
    """hsiphash(data, len, key) of lib/siphash.c, BITS_PER_LONG == 64."""
    k0, k1 = key
    v0 = _SIP_C0 ^ k0
    v1 = _SIP_C1 ^ k1
    v2 = _SIP_C2 ^ k0
    v3 = _SIP_C3 ^ k1
    n = len(data)
    b = (n << 56) & MASK64
    full = n - (n % 8)
    for i in range(0, full, 8):
        m = int.from_bytes(data[i:i + 8], "little")
        v3 ^= m
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
        v0 ^= m
    b |= int.from_bytes(data[full:], "little")
    v3 ^= b
    v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    v0 ^= b
    v2 ^= 0xFF
    for _ in range(3):
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    return (v0 ^ v1 ^ v2 ^ v3) & MASK32


class HsipU32:
    """hsiphash(&v, sizeof(u32), key) for a u32 `v` stored little-endian (x86),
    with the key-dependent preamble precomputed: ip_vs_mh_hashkey() calls it
    once per lookup, so it is the model's hot path."""

    def __init__(self, key):
        k0, k1 = key
        self.init = (_SIP_C0 ^ k0, _SIP_C1 ^ k1, _SIP_C2 ^ k0, _SIP_C3 ^ k1)

    def __call__(self, v):
        m = MASK64
        v0, v1, v2, v3 = self.init
        b = (4 << 56) | (v & MASK32)
        v3 ^= b
        # One compression round, then three finalisation rounds (SipHash-1-3).
        v0 = (v0 + v1) & m
        v1 = (((v1 << 13) | (v1 >> 51)) & m) ^ v0
        v0 = ((v0 << 32) | (v0 >> 32)) & m
        v2 = (v2 + v3) & m
        v3 = (((v3 << 16) | (v3 >> 48)) & m) ^ v2
        v0 = (v0 + v3) & m
        v3 = (((v3 << 21) | (v3 >> 43)) & m) ^ v0
        v2 = (v2 + v1) & m
        v1 = (((v1 << 17) | (v1 >> 47)) & m) ^ v2
        v2 = ((v2 << 32) | (v2 >> 32)) & m
        v0 ^= b
        v2 ^= 0xFF
        for _ in range(3):
            v0 = (v0 + v1) & m
            v1 = (((v1 << 13) | (v1 >> 51)) & m) ^ v0
            v0 = ((v0 << 32) | (v0 >> 32)) & m
            v2 = (v2 + v3) & m
            v3 = (((v3 << 16) | (v3 >> 48)) & m) ^ v2
            v0 = (v0 + v3) & m
            v3 = (((v3 << 21) | (v3 >> 43)) & m) ^ v0
            v2 = (v2 + v1) & m
            v1 = (((v1 << 17) | (v1 >> 47)) & m) ^ v2
            v2 = ((v2 << 32) | (v2 >> 32)) & m
        return (v0 ^ v1 ^ v2 ^ v3) & MASK32


# ---------------------------------------------------------------------------
# Addresses
# ---------------------------------------------------------------------------
class ScenarioError(Exception):
    pass


def parse_ip(text):
    """Dotted quad -> host-order u32 (what ntohl() of the address gives)."""
    parts = text.split(".")
    if len(parts) != 4:
        raise ScenarioError("bad IPv4 address '%s'" % text)
    val = 0
    for p in parts:
        if not p.isdigit() or int(p) > 255:
            raise ScenarioError("bad IPv4 address '%s'" % text)
        val = (val << 8) | int(p)
    return val


def parse_ip_port(text):
    ip, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ScenarioError("expected <ip>:<port>, got '%s'" % text)
    return parse_ip(ip), int(port)


def format_ip(val):
    return "%d.%d.%d.%d" % ((val >> 24) & 255, (val >> 16) & 255, (val >> 8) & 255, val & 255)


# ---------------------------------------------------------------------------
# Real server (struct ip_vs_dest) and connection
# ---------------------------------------------------------------------------
class Dest:
    __slots__ = ("addr", "port", "name", "weight", "last_weight", "u_threshold",
                 "l_threshold", "activeconns", "inactconns", "overload", "available",
                 "cache_refs")

    def __init__(self, addr, port):
        self.addr = addr
        self.port = port
        self.name = "%s:%d" % (format_ip(addr), port)
        self.weight = 0
        self.last_weight = 0
        self.u_threshold = 0
        self.l_threshold = 0
        self.activeconns = 0
        self.inactconns = 0
        self.overload = False  # IP_VS_DEST_F_OVERLOAD
        self.available = False  # IP_VS_DEST_F_AVAILABLE
        self.cache_refs = 0  # references held by lblc/lblcr entries

    def overhead(self):
        # ip_vs_dest_conn_overhead(): activeconns * 256 + inactconns
        return (self.activeconns << 8) + self.inactconns

    def totalconns(self):
        # ip_vs_dest_totalconns()
        return self.activeconns + self.inactconns

    def __repr__(self):
        return "%s(w=%d a=%d i=%d%s%s)" % (self.name, self.weight, self.activeconns,
                                           self.inactconns, " OVL" if self.overload else "",
                                           "" if self.available else " DELETED")


class Conn:
    __slots__ = ("dest", "active")

    def __init__(self, dest):
        self.dest = dest
        self.active = False  # new connections carry IP_VS_CONN_F_INACTIVE


# ---------------------------------------------------------------------------
# Schedulers. Each gets the service; `svc.dests` is svc->destinations in list
# order (index 0 = first element after the list head = newest added).
# ---------------------------------------------------------------------------
class Scheduler:
    def __init__(self, svc):
        self.svc = svc

    def add_dest(self, dest):  # sched->add_dest, after list_add_rcu()
        pass

    def del_dest(self, dest, prev):  # sched->del_dest, after list_del_rcu()
        pass

    def upd_dest(self, dest):  # sched->upd_dest
        pass

    def advance(self, new_now):  # timers that fire up to new_now
        pass

    def schedule(self, caddr, cport, daddr):
        raise NotImplementedError

    def describe(self, daddr):  # scheduler state that decides the next pick
        return ""


class RrScheduler(Scheduler):
    """ip_vs_rr.c. sched_data is a list position: None = the list head."""

    def __init__(self, svc):
        super().__init__(svc)
        self.cursor = None

    def describe(self, daddr):
        return "cursor=%s" % (self.cursor.name if self.cursor else "head")

    def del_dest(self, dest, prev):
        # ip_vs_rr_del_dest(): the cursor on the removed dest moves to the
        # entry before it (p->next->prev after unlinking).
        if self.cursor is dest:
            COVER["rr_del_cursor"] += 1
            self.cursor = prev

    def schedule(self, caddr, cport, daddr):
        dests = self.svc.dests
        last = self.cursor
        start = 0 if last is None else dests.index(last) + 1
        for i in range(start, len(dests)):
            d = dests[i]
            if not d.overload and d.weight > 0:
                self.cursor = d
                return d
        if last is None:
            # "If we stay at head there is no need for 2nd pass."
            COVER["rr_none"] += 1
            return None
        for d in dests:
            if not d.overload and d.weight > 0:
                COVER["rr_second_pass"] += 1
                self.cursor = d
                return d
            if d is last:
                break
        COVER["rr_none"] += 1
        return None


class WrrScheduler(Scheduler):
    """ip_vs_wrr.c with its ip_vs_wrr_mark {cl, cw, mw, di}."""

    def __init__(self, svc):
        super().__init__(svc)
        # ip_vs_wrr_init_svc() on an empty service.
        self.cl = None
        self.di = self._gcd_weight()
        self.mw = self._max_weight() - (self.di - 1)
        self.cw = self.mw

    def describe(self, daddr):
        return "cursor=%s cw=%d mw=%d di=%d" % (self.cl.name if self.cl else "head", self.cw,
                                                self.mw, self.di)

    def _gcd_weight(self):
        g = 0
        for d in self.svc.dests:
            if d.weight > 0:
                g = math.gcd(d.weight, g) if g > 0 else d.weight
        return g if g else 1

    def _max_weight(self):
        w = 0
        for d in self.svc.dests:
            if d.weight > w:
                w = d.weight
        return w

    def _dest_changed(self):
        # ip_vs_wrr_dest_changed(): add, del and upd all come here.
        self.cl = None
        self.di = self._gcd_weight()
        self.mw = self._max_weight() - (self.di - 1)
        if self.cw > self.mw or not self.cw:
            self.cw = self.mw
        elif self.di > 1:
            COVER["wrr_cw_realign"] += 1
            self.cw = (self.cw // self.di) * self.di + 1

    def add_dest(self, dest):
        self._dest_changed()

    def del_dest(self, dest, prev):
        self._dest_changed()

    def upd_dest(self, dest):
        self._dest_changed()

    def schedule(self, caddr, cport, daddr):
        dests = self.svc.dests
        if self.mw == 0:
            return None
        last = self.cl
        stop = None
        last_pass = False
        restarted = False
        pos = 0 if last is None else dests.index(last) + 1
        # Every round either finds a dest, lowers cw or stops; cw reaches its
        # last pass after at most mw/di rounds, twice over. The bound only
        # guards the model against a bug of its own.
        for _ in range(4 * (self.mw + 2) * (len(dests) + 2)):
            for i in range(pos, len(dests)):
                d = dests[i]
                if not d.overload and d.weight >= self.cw:
                    self.cl = d
                    return d
                if d is stop:
                    COVER["wrr_stop_at_last"] += 1
                    self.cl = d
                    return None
            pos = 0  # the walk passed the head
            self.cw -= self.di
            if self.cw <= 0:
                self.cw = self.mw
                if last_pass or last is None:
                    COVER["wrr_none_last_pass"] += 1
                    self.cl = None
                    return None
                restarted = True
            last_pass = self.cw <= self.di
            if last_pass and restarted and last is not None:
                stop = last
        raise AssertionError("wrr walk did not terminate")


class LcScheduler(Scheduler):
    """ip_vs_lc.c"""

    def schedule(self, caddr, cport, daddr):
        least = None
        loh = 0
        for d in self.svc.dests:
            if d.overload or d.weight == 0:
                continue
            doh = d.overhead()
            if least is None or doh < loh:
                least = d
                loh = doh
        return least


def wlc_pick(dests, overhead):
    """The weighted least-connection walk shared by ip_vs_wlc.c, ip_vs_sed.c
    and __ip_vs_lblc(r)_schedule(): the first non-overloaded dest with
    weight > 0 starts, a later non-overloaded one replaces it when
    loh * w > doh * lw (64-bit, so no overflow in Python either)."""
    least = None
    start = 0
    for i, d in enumerate(dests):
        if not d.overload and d.weight > 0:
            least = d
            start = i + 1
            break
    if least is None:
        return None
    loh = overhead(least)
    for i in range(start, len(dests)):
        d = dests[i]
        if d.overload:
            continue
        doh = overhead(d)
        if loh * d.weight > doh * least.weight:
            least = d
            loh = doh
    return least


def _conn_overhead(d):
    return (d.activeconns << 8) + d.inactconns


def _sed_overhead(d):
    # ip_vs_sed_dest_overhead() / ip_vs_nq_dest_overhead(): activeconns + 1
    return d.activeconns + 1


class WlcScheduler(Scheduler):
    """ip_vs_wlc.c"""

    def schedule(self, caddr, cport, daddr):
        return wlc_pick(self.svc.dests, _conn_overhead)


class SedScheduler(Scheduler):
    """ip_vs_sed.c"""

    def schedule(self, caddr, cport, daddr):
        return wlc_pick(self.svc.dests, _sed_overhead)


class NqScheduler(Scheduler):
    """ip_vs_nq.c"""

    def schedule(self, caddr, cport, daddr):
        least = None
        loh = 0
        for d in self.svc.dests:
            if d.overload or d.weight == 0:
                continue
            doh = d.activeconns + 1
            if d.activeconns == 0:
                if least is not None:
                    COVER["nq_idle_after_busy"] += 1
                return d  # an idle server is taken at once
            if least is None or loh * d.weight > doh * least.weight:
                least = d
                loh = doh
        return least


class FoScheduler(Scheduler):
    """ip_vs_fo.c"""

    def schedule(self, caddr, cport, daddr):
        best = None
        hw = 0
        for d in self.svc.dests:
            if not d.overload and d.weight > hw:
                best = d
                hw = d.weight
        return best


class OvfScheduler(Scheduler):
    """ip_vs_ovf.c"""

    def schedule(self, caddr, cport, daddr):
        best = None
        hw = 0
        for d in self.svc.dests:
            w = d.weight
            if d.overload or d.activeconns > w or w == 0:
                continue
            if best is None or w > hw:
                best = d
                hw = w
        return best


def lblc_is_overloaded(dest, dests):
    """is_overloaded() of ip_vs_lblc.c / ip_vs_lblcr.c (not the OVERLOAD flag)."""
    if dest.activeconns > dest.weight:
        for d in dests:
            if d.activeconns * 2 < d.weight:
                COVER["lblc_rule_overloaded"] += 1
                return True
        COVER["lblc_rule_busy_kept"] += 1
    return False


class _LocalityTable(Scheduler):
    """What ip_vs_lblc.c and ip_vs_lblcr.c share: the hash table keyed by the
    destination address, its `entries` counter and the periodic timer
    (ip_vs_lblc(r)_check_expire)."""

    TAB_BITS = 10  # CONFIG_IP_VS_LBLC(R)_TAB_BITS default
    TAB_SIZE = 1 << TAB_BITS
    TAB_MASK = TAB_SIZE - 1
    MAX_SIZE = TAB_SIZE * 16
    CHECK_EXPIRE_INTERVAL = 60
    ENTRY_TIMEOUT = 6 * 60
    DEFAULT_EXPIRATION = 24 * 60 * 60
    COUNT_FOR_FULL_EXPIRATION = 30

    def __init__(self, svc):
        super().__init__(svc)
        self.table = {}  # addr -> entry
        self.buckets = [dict() for _ in range(self.TAB_SIZE)]  # bucket -> {addr: entry}
        self.entries = 0  # tbl->entries, as the kernel counts it
        self.rover = 0
        self.counter = 1
        # mod_timer(&tbl->periodic_timer, jiffies + CHECK_EXPIRE_INTERVAL)
        self.next_tick = self.CHECK_EXPIRE_INTERVAL

    def hashkey(self, addr):
        # ip_vs_lblc(r)_hashkey(): hash_32(ntohl(addr), TAB_BITS)
        return hash_32(addr, self.TAB_BITS)

    def _hash(self, en):
        self.buckets[self.hashkey(en.addr)][en.addr] = en
        self.table[en.addr] = en
        self.entries += 1

    def _unlink(self, en):
        del self.buckets[self.hashkey(en.addr)][en.addr]
        del self.table[en.addr]
        self._release(en)

    def _release(self, en):
        raise NotImplementedError

    def _full_check(self, now):
        # ip_vs_lblc(r)_full_check(): drops every entry with
        # now >= lastuse + expiration. Visiting all buckets leaves the rover
        # where it was.
        for en in list(self.table.values()):
            if not now < en.lastuse + self.DEFAULT_EXPIRATION:
                COVER["%s_expired" % type(self).__name__] += 1
                self._unlink(en)
                self.entries -= 1

    def _partial_check(self, now):
        goal = (self.entries - self.MAX_SIZE) * 4 // 3
        if goal > self.MAX_SIZE // 2:
            goal = self.MAX_SIZE // 2
        j = self.rover
        for _ in range(self.TAB_SIZE):
            j = (j + 1) & self.TAB_MASK
            for en in list(self.buckets[j].values()):
                if now < en.lastuse + self.ENTRY_TIMEOUT:
                    continue
                COVER["%s_partial_expired" % type(self).__name__] += 1
                self._unlink(en)
                self.entries -= 1
                goal -= 1
            if goal <= 0:
                break
        self.rover = j

    def advance(self, new_now):
        interval = self.CHECK_EXPIRE_INTERVAL
        while self.next_tick <= new_now:
            now = self.next_tick
            if self.counter % self.COUNT_FOR_FULL_EXPIRATION == 0:
                self._full_check(now)
                self.counter = 1
                self.next_tick += interval
            elif self.entries <= self.MAX_SIZE:
                # Nothing but counter++ happens until the next full check or
                # until new_now: skip those ticks in one step.
                left = self.COUNT_FOR_FULL_EXPIRATION - self.counter
                ticks = min(left, (new_now - now) // interval + 1)
                self.counter += ticks
                self.next_tick += ticks * interval
            else:
                self._partial_check(now)
                self.next_tick += interval


class LblcEntry:
    __slots__ = ("addr", "dest", "lastuse")

    def __init__(self, addr, dest, lastuse):
        self.addr = addr
        self.dest = dest
        self.lastuse = lastuse


class LblcScheduler(_LocalityTable):
    """ip_vs_lblc.c"""

    def describe(self, daddr):
        en = self.table.get(daddr)
        where = ("%s -> %r lastuse=%d" % (format_ip(daddr), en.dest, en.lastuse)
                 if en else "%s: no entry" % format_ip(daddr))
        return "%s; entries=%d (kernel count %d) counter=%d" % (where, len(self.table),
                                                               self.entries, self.counter)

    def _release(self, en):
        en.dest.cache_refs -= 1

    def schedule(self, caddr, cport, daddr):
        svc = self.svc
        en = self.table.get(daddr)
        if en is not None:
            en.lastuse = svc.now
            d = en.dest
            if d.available and d.weight > 0 and not lblc_is_overloaded(d, svc.dests):
                COVER["lblc_hit"] += 1
                return d
            if not d.available:
                COVER["lblc_deleted_dest"] += 1
        d = wlc_pick(svc.dests, _conn_overhead)
        if d is None:
            return None
        # ip_vs_lblc_new()
        if en is not None:
            if en.dest is d:
                COVER["lblc_same_dest"] += 1
                return d
            COVER["lblc_replace"] += 1
            # ip_vs_lblc_del() unhashes the old entry without decrementing
            # tbl->entries; ip_vs_lblc_hash() then increments it. The kernel's
            # counter therefore grows on every replacement, and it alone
            # decides between the full and the partial expiry check.
            self._unlink(en)
            if "lblc-exact-count" in self.svc.variants:
                self.entries -= 1
        d.cache_refs += 1
        self._hash(LblcEntry(daddr, d, svc.now))
        return d


class LblcrEntry:
    __slots__ = ("addr", "members", "lastmod", "lastuse")

    def __init__(self, addr, lastuse):
        self.addr = addr
        self.members = []  # set->list, new members at the front
        self.lastmod = 0
        self.lastuse = lastuse


class LblcrScheduler(_LocalityTable):
    """ip_vs_lblcr.c"""

    def describe(self, daddr):
        en = self.table.get(daddr)
        if en is None:
            return "%s: no entry" % format_ip(daddr)
        return "%s -> {%s} lastmod=%d lastuse=%d" % (
            format_ip(daddr), " ".join(repr(d) for d in en.members), en.lastmod, en.lastuse)

    def _release(self, en):
        # ip_vs_dest_set_eraseall()
        for d in en.members:
            d.cache_refs -= 1
        en.members = []

    def _set_insert(self, en, dest, check):
        # ip_vs_dest_set_insert()
        if check and any(m is dest for m in en.members):
            COVER["lblcr_insert_already_member"] += 1  # lastmod not refreshed
            return
        dest.cache_refs += 1
        en.members.insert(0, dest)
        en.lastmod = self.svc.now

    def _set_erase(self, en, dest):
        # ip_vs_dest_set_erase()
        for i, m in enumerate(en.members):
            if m is dest:
                del en.members[i]
                dest.cache_refs -= 1
                en.lastmod = self.svc.now
                return

    @staticmethod
    def _set_min(members):
        # ip_vs_dest_set_min(): only the first pick checks weight > 0; later
        # ones check AVAILABLE with the comparison, never the weight (a
        # weight-0 member cannot win the comparison anyway).
        least = None
        start = 0
        for i, d in enumerate(members):
            if d.overload:
                continue
            if d.weight > 0 and d.available:
                least = d
                start = i + 1
                break
        if least is None:
            return None
        loh = least.overhead()
        for i in range(start, len(members)):
            d = members[i]
            if d.overload:
                continue
            doh = d.overhead()
            if loh * d.weight > doh * least.weight and d.available:
                least = d
                loh = doh
        return least

    @staticmethod
    def _set_max(members):
        # ip_vs_dest_set_max(): neither AVAILABLE nor OVERLOAD is looked at.
        most = None
        start = 0
        for i, d in enumerate(members):
            if d.weight > 0:
                most = d
                start = i + 1
                break
        if most is None:
            return None
        moh = most.overhead()
        for i in range(start, len(members)):
            d = members[i]
            doh = d.overhead()
            if moh * d.weight < doh * most.weight and d.weight > 0:
                most = d
                moh = doh
        return most

    def schedule(self, caddr, cport, daddr):
        svc = self.svc
        now = svc.now
        en = self.table.get(daddr)
        if en is not None:
            en.lastuse = now
            d = self._set_min(en.members)
            if len(en.members) > 1 and now > en.lastmod + self.DEFAULT_EXPIRATION:
                m = self._set_max(en.members)
                if m is not None:
                    COVER["lblcr_shrink"] += 1
                    if m is d:
                        COVER["lblcr_shrink_picked"] += 1
                    if not m.available:
                        COVER["lblcr_shrink_deleted"] += 1
                    self._set_erase(en, m)
            if d is not None and not lblc_is_overloaded(d, svc.dests):
                COVER["lblcr_hit"] += 1
                return d
            d = wlc_pick(svc.dests, _conn_overhead)
            if d is None:
                return None
            COVER["lblcr_grow"] += 1
            self._set_insert(en, d, True)
            return d
        d = wlc_pick(svc.dests, _conn_overhead)
        if d is None:
            return None
        en = LblcrEntry(daddr, now)
        self._set_insert(en, d, False)
        self._hash(en)
        return d


class DhScheduler(Scheduler):
    """ip_vs_dh.c: 256 buckets filled round-robin from the list."""

    TAB_BITS = 8
    TAB_SIZE = 1 << TAB_BITS

    def __init__(self, svc):
        super().__init__(svc)
        self.buckets = [None] * self.TAB_SIZE

    def _reassign(self):
        dests = self.svc.dests
        n = len(dests)
        self.buckets = [dests[i % n] if n else None for i in range(self.TAB_SIZE)]

    def add_dest(self, dest):
        self._reassign()

    def del_dest(self, dest, prev):
        self._reassign()

    def upd_dest(self, dest):
        self._reassign()

    def schedule(self, caddr, cport, daddr):
        d = self.buckets[hash_32(daddr, self.TAB_BITS)]
        if d is None or not d.available or d.weight <= 0 or d.overload:
            return None
        return d


def _hash_unavailable(d):
    # is_unavailable() of ip_vs_sh.c / ip_vs_mh.c
    return d.weight <= 0 or d.overload


class ShScheduler(Scheduler):
    """ip_vs_sh.c: each dest fills `weight` consecutive buckets (at least one)."""

    TAB_BITS = 8
    TAB_SIZE = 1 << TAB_BITS
    TAB_MASK = TAB_SIZE - 1

    def __init__(self, svc):
        super().__init__(svc)
        self.buckets = [None] * self.TAB_SIZE

    def _reassign(self):
        dests = self.svc.dests
        buckets = [None] * self.TAB_SIZE
        if dests:
            p = 0
            d_count = 0
            for i in range(self.TAB_SIZE):
                d = dests[p]
                buckets[i] = d
                d_count += 1
                if d_count >= d.weight:
                    p = (p + 1) % len(dests)
                    d_count = 0
        self.buckets = buckets

    def add_dest(self, dest):
        self._reassign()

    def del_dest(self, dest, prev):
        self._reassign()

    def upd_dest(self, dest):
        self._reassign()

    def _hashkey(self, addr, port, offset):
        # (offset + hash_32(ntohs(port) + ntohl(addr), 8)) & MASK
        return (offset + hash_32((port + addr) & MASK32, self.TAB_BITS)) & self.TAB_MASK

    def schedule(self, caddr, cport, daddr):
        svc = self.svc
        port = cport if "sched2" in svc.flags else 0
        ihash = self._hashkey(caddr, port, 0)
        d = self.buckets[ihash]
        if "sched1" not in svc.flags:
            # ip_vs_sh_get()
            return None if d is None or _hash_unavailable(d) else d
        # ip_vs_sh_get_fallback()
        if d is None:
            return None
        if not _hash_unavailable(d):
            return d
        for offset in range(self.TAB_SIZE):
            roffset = (offset + ihash) % self.TAB_SIZE
            d = self.buckets[self._hashkey(caddr, port, roffset)]
            if d is None:
                break
            if not _hash_unavailable(d):
                COVER["sh_fallback_found"] += 1
                return d
        COVER["sh_fallback_none"] += 1
        return None


class MhScheduler(Scheduler):
    """ip_vs_mh.c: Maglev lookup table populated from per-dest permutations."""

    # generate_hash_secret(): fixed keys, so every instance builds the same table.
    HASH1 = (2654435761, 2654435761)
    HASH2 = (2654446892, 2654446892)

    def __init__(self, svc, table_size, tab_bits):
        super().__init__(svc)
        self.size = table_size
        self.tab_bits = tab_bits
        self.hash1 = HsipU32(self.HASH1)
        self.hash2 = HsipU32(self.HASH2)
        self.slots = None  # None: every slot NULL (ip_vs_mh_reset)
        self.members = []  # dests that own slots
        self._cache = {}

    def _hashkey(self, addr, port, hasher, offset):
        # ip_vs_mh_hashkey(): v = offset + ntohs(port) + ntohl(addr) as u32
        return hasher((offset + port + addr) & MASK32)

    def _dest_changed(self):
        # ip_vs_mh_dest_changed(): gcd, rshift, permutate, populate. The table
        # is a pure function of (addr, port, last_weight) in list order, so
        # identical configurations share one build.
        dests = self.svc.dests
        key = tuple((d.addr, d.port, d.last_weight) for d in dests)
        built = self._cache.get(key)
        if built is None:
            built = self._build(key)
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = built
        slot_idx, member_idx = built
        if slot_idx is None:
            self.slots = None
            self.members = []
        else:
            self.slots = [dests[i] for i in slot_idx]
            self.members = [dests[i] for i in member_idx]

    def _build(self, key):
        size = self.size
        # ip_vs_mh_gcd_weight(): over last_weight > 0
        g = 0
        for _, _, lw in key:
            if lw > 0:
                g = math.gcd(lw, g) if g > 0 else lw
        if g < 1:
            return None, []
        # ip_vs_mh_shift_weight()
        mw = 0
        for _, _, lw in key:
            if lw > mw:
                mw = lw
        shift = (mw // g).bit_length() - self.tab_bits  # fls(mw / gcd) - TAB_BITS
        rshift = shift if shift >= 0 else 0
        if rshift:
            COVER["mh_rshift"] += 1
        # ip_vs_mh_permutate()
        offsets = []
        skips = []
        turns = []
        for addr, port, lw in key:
            offsets.append(self._hashkey(addr, port, self.hash1, 0) % size)
            skips.append(self._hashkey(addr, port, self.hash2, 0) % (size - 1) + 1)
            t = (lw // g) >> rshift
            turns.append(t if t else (1 if lw != 0 else 0))
            if lw and not t:
                COVER["mh_turns_floor"] += 1
        # ip_vs_mh_populate()
        filled = bytearray(size)
        table = [0] * size
        perm = list(offsets)
        order = [i for i in range(len(key)) if turns[i] >= 1]
        n = 0
        while True:
            for i in order:
                skip = skips[i]
                c = perm[i]
                t = turns[i]
                while t:
                    while filled[c]:
                        c += skip
                        if c >= size:
                            c -= size
                    filled[c] = 1
                    table[c] = i
                    n += 1
                    if n == size:
                        return table, order
                    t -= 1
                perm[i] = c

    def add_dest(self, dest):
        self._dest_changed()

    def del_dest(self, dest, prev):
        self._dest_changed()

    def upd_dest(self, dest):
        self._dest_changed()

    def _slot(self, idx):
        return None if self.slots is None else self.slots[idx]

    def schedule(self, caddr, cport, daddr):
        svc = self.svc
        port = cport if "sched2" in svc.flags else 0  # IP_VS_SVC_F_SCHED_MH_PORT
        size = self.size
        ihash = self._hashkey(caddr, port, self.hash1, 0) % size
        d = self._slot(ihash)
        if "sched1" not in svc.flags:  # IP_VS_SVC_F_SCHED_MH_FALLBACK
            # ip_vs_mh_get()
            return None if d is None or _hash_unavailable(d) else d
        # ip_vs_mh_get_fallback()
        if d is None:
            return None
        if not _hash_unavailable(d):
            return d
        # The probe loop visits up to `size` slots and returns the first
        # available dest; when no dest in the table is available it ends
        # with NULL, which is known without probing.
        if all(_hash_unavailable(m) for m in self.members):
            COVER["mh_fallback_none"] += 1
            return None
        for offset in range(size):
            roffset = (offset + ihash) % size
            d = self._slot(self._hashkey(caddr, port, self.hash1, roffset) % size)
            if d is None:
                break
            if not _hash_unavailable(d):
                COVER["mh_fallback_found"] += 1
                return d
        return None


SCHEDULERS = {
    "rr": RrScheduler,
    "wrr": WrrScheduler,
    "lc": LcScheduler,
    "wlc": WlcScheduler,
    "sed": SedScheduler,
    "nq": NqScheduler,
    "lblc": LblcScheduler,
    "lblcr": LblcrScheduler,
    "dh": DhScheduler,
    "sh": ShScheduler,
    "mh": MhScheduler,
    "fo": FoScheduler,
    "ovf": OvfScheduler,
}

# ipvsadm's -b names: the kernel has only the three bits IP_VS_SVC_F_SCHED1..3,
# sh and mh read them under their own names.
FLAG_BITS = {
    "sh-fallback": "sched1",
    "mh-fallback": "sched1",
    "flag-1": "sched1",
    "sh-port": "sched2",
    "mh-port": "sched2",
    "flag-2": "sched2",
    "flag-3": "sched3",
}


# ---------------------------------------------------------------------------
# The virtual service and the connection bookkeeping of ip_vs_conn.c /
# ip_vs_ctl.c
# ---------------------------------------------------------------------------
class Service:
    def __init__(self, proto, vaddr, vport, sched_name, flags, mh_size=65537, mh_bits=6,
                 variants=()):
        self.proto = proto
        self.variants = frozenset(variants)
        self.vaddr = vaddr
        self.vport = vport
        self.flags = flags
        self.dests = []
        self.now = 0
        self.conns = {}  # id -> Conn, bound connections only
        self.retired = set()  # ids that were refused, closed or lost with a del
        self.trash = {}  # (addr, port) -> deleted Dest
        if sched_name == "mh":
            self.sched = MhScheduler(self, mh_size, mh_bits)
        else:
            self.sched = SCHEDULERS[sched_name](self)

    def _lookup(self, addr, port):
        for d in self.dests:
            if d.addr == addr and d.port == port:
                return d
        return None

    def _update_dest(self, dest, weight, u, l, add):
        # __ip_vs_update_dest()
        if add or weight != 0:
            dest.last_weight = weight  # "keep the last_weight with latest non-0 weight"
        dest.weight = weight
        dest.available = True
        if u == 0 or u > dest.u_threshold:
            if dest.overload:
                COVER["overload_cleared_by_edit"] += 1
            dest.overload = False
        elif dest.overload:
            COVER["overload_kept_by_edit"] += 1
        dest.u_threshold = u
        dest.l_threshold = l
        if add:
            self.dests.insert(0, dest)  # list_add_rcu(): at the head
            self.sched.add_dest(dest)
        else:
            self.sched.upd_dest(dest)

    def add_dest(self, addr, port, weight, u, l):
        # ip_vs_add_dest()
        if weight < 0:
            raise ScenarioError("server weight less than zero")
        if l > u:
            raise ScenarioError("lower threshold is higher than upper threshold")
        if self._lookup(addr, port) is not None:
            raise ScenarioError("server already exists")
        dest = self.trash.pop((addr, port), None)
        if dest is not None and dest.cache_refs > 0:
            # ip_vs_trash_get_dest(): the object the caches still point at
            # comes back. Its connections went away with the del.
            COVER["revived"] += 1
            dest.activeconns = 0
            dest.inactconns = 0
            dest.overload = False
        else:
            dest = Dest(addr, port)
        self._update_dest(dest, weight, u, l, True)

    def edit_dest(self, addr, port, weight, u, l):
        # ip_vs_edit_dest(); omitted thresholds keep their values (dplb).
        dest = self._lookup(addr, port)
        if dest is None:
            raise ScenarioError("server does not exist")
        if u is None:
            u = dest.u_threshold
        if l is None:
            l = dest.l_threshold
        if weight < 0:
            raise ScenarioError("server weight less than zero")
        if l > u:
            raise ScenarioError("lower threshold is higher than upper threshold")
        self._update_dest(dest, weight, u, l, False)

    def del_dest(self, addr, port):
        # ip_vs_del_dest() -> __ip_vs_unlink_dest(): AVAILABLE off, unlink,
        # then sched->del_dest.
        dest = self._lookup(addr, port)
        if dest is None:
            raise ScenarioError("server does not exist")
        idx = self.dests.index(dest)
        prev = self.dests[idx - 1] if idx > 0 else None
        dest.available = False
        del self.dests[idx]
        self.sched.del_dest(dest, prev)
        self.trash[(addr, port)] = dest
        for cid in [cid for cid, c in self.conns.items() if c.dest is dest]:
            del self.conns[cid]
            self.retired.add(cid)
        if "del-zero" in self.variants:
            # Alternative reading: the vanished connections are unbound from
            # the deleted server (which leaves OVERLOAD clear at 0 conns).
            dest.activeconns = 0
            dest.inactconns = 0
            dest.overload = False

    def new_conn(self, cid, caddr, cport, daddr):
        if cid in self.conns or cid in self.retired:
            raise ScenarioError("connection id '%s' used twice" % cid)
        dest = self.sched.schedule(caddr, cport, daddr)
        if dest is None:
            self.retired.add(cid)
            return None
        # ip_vs_bind_dest(): a new connection is inactive.
        dest.inactconns += 1
        if dest.u_threshold != 0 and dest.totalconns() >= dest.u_threshold:
            if not dest.overload:
                COVER["overload_set"] += 1
            dest.overload = True
        self.conns[cid] = Conn(dest)
        return dest

    def _known(self, cid):
        if cid in self.conns:
            return self.conns[cid]
        if cid in self.retired:
            return None
        raise ScenarioError("unknown connection id '%s'" % cid)

    def established(self, cid):
        c = self._known(cid)
        # set_tcp_state(): entering ESTABLISHED moves an inactive conn to the
        # active counter. UDP has no such transition.
        if c is None or self.proto != "tcp" or c.active:
            return
        c.active = True
        c.dest.inactconns -= 1
        c.dest.activeconns += 1

    def fin(self, cid):
        c = self._known(cid)
        if c is None or self.proto != "tcp" or not c.active:
            return
        c.active = False
        c.dest.activeconns -= 1
        c.dest.inactconns += 1

    def closed(self, cid):
        c = self._known(cid)
        if c is None:
            return
        del self.conns[cid]
        self.retired.add(cid)
        # ip_vs_unbind_dest()
        dest = c.dest
        if c.active:
            dest.activeconns -= 1
        else:
            dest.inactconns -= 1
        was = dest.overload
        if dest.l_threshold != 0:
            if dest.totalconns() < dest.l_threshold:
                dest.overload = False
                COVER["overload_cleared_by_l" if was else "unbind_l"] += 1
            elif was:
                COVER["overload_kept_by_l"] += 1
        elif dest.u_threshold != 0:
            if dest.totalconns() * 4 < dest.u_threshold * 3:
                dest.overload = False
                COVER["overload_cleared_by_u" if was else "unbind_u"] += 1
            elif was:
                COVER["overload_kept_by_u"] += 1
        else:
            if was:
                COVER["overload_cleared_no_thresholds"] += 1
            dest.overload = False

    def advance(self, seconds):
        new_now = self.now + seconds
        self.sched.advance(new_now)
        self.now = new_now


# ---------------------------------------------------------------------------
# Scenario reader
# ---------------------------------------------------------------------------
def _int_arg(text, what):
    if not text.isdigit():
        raise ScenarioError("%s must be a non-negative integer, got '%s'" % (what, text))
    return int(text)


def _dest_options(tokens, allow_missing_thresholds):
    opts = {}
    i = 0
    while i < len(tokens):
        key = tokens[i]
        if key not in ("weight", "uthreshold", "lthreshold") or i + 1 >= len(tokens):
            raise ScenarioError("unexpected '%s'" % key)
        if key in opts:
            raise ScenarioError("'%s' given twice" % key)
        opts[key] = _int_arg(tokens[i + 1], key)
        i += 2
    if "weight" not in opts:
        raise ScenarioError("missing weight")
    if opts["weight"] > 65535:
        raise ScenarioError("weight out of range 0..65535")
    default = None if allow_missing_thresholds else 0
    return opts["weight"], opts.get("uthreshold", default), opts.get("lthreshold", default)


def describe(svc, daddr=None):
    """The server list in scheduling order and the scheduler's own state,
    for divergence reports."""
    text = " ".join(repr(d) for d in svc.dests) or "(no servers)"
    extra = svc.sched.describe(svc.vaddr if daddr is None else daddr)
    return "%s [%s]" % (text, extra) if extra else text


# Deliberate departures from the kernel, for diagnosing a divergence: does the
# other side behave as if it made this choice?
VARIANTS = {
    "del-zero": "a deleted server's counters drop to 0 (its vanished connections unbind)",
    "lblc-exact-count": "lblc decrements its entry count when it replaces an entry",
}


def run(lines, mh_size=65537, mh_bits=6, out=None, trace=None, variants=()):
    """Replays scenario lines; returns the output lines. `trace(svc, lineno,
    line, daddr)` is called before every pick. Raises ScenarioError (with .lineno
    set) on a malformed scenario."""
    results = []
    svc = None
    for lineno, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        tok = line.split()
        cmd = tok[0]
        try:
            if cmd == "service":
                if svc is not None:
                    raise ScenarioError("second service line")
                if len(tok) not in (5, 7) or tok[1] not in ("tcp", "udp") or tok[3] != "sched":
                    raise ScenarioError(
                        "expected: service <tcp|udp> <vip>:<port> sched <name> [flags <f,...>]")
                vaddr, vport = parse_ip_port(tok[2])
                if tok[4] not in SCHEDULERS:
                    raise ScenarioError("unknown scheduler '%s'" % tok[4])
                flags = set()
                if len(tok) == 7:
                    if tok[5] != "flags":
                        raise ScenarioError("unexpected '%s'" % tok[5])
                    for f in tok[6].split(","):
                        if f not in FLAG_BITS:
                            raise ScenarioError("unknown flag '%s'" % f)
                        flags.add(FLAG_BITS[f])
                svc = Service(tok[1], vaddr, vport, tok[4], flags, mh_size, mh_bits, variants)
                continue
            if svc is None:
                raise ScenarioError("the first command must be 'service'")
            if cmd == "add" or cmd == "edit":
                if len(tok) < 4:
                    raise ScenarioError("expected: %s <ip>:<port> weight <w> ..." % cmd)
                addr, port = parse_ip_port(tok[1])
                weight, u, l = _dest_options(tok[2:], cmd == "edit")
                if cmd == "add":
                    svc.add_dest(addr, port, weight, u, l)
                else:
                    svc.edit_dest(addr, port, weight, u, l)
            elif cmd == "del":
                if len(tok) != 2:
                    raise ScenarioError("expected: del <ip>:<port>")
                svc.del_dest(*parse_ip_port(tok[1]))
            elif cmd == "conn":
                if len(tok) not in (3, 5) or (len(tok) == 5 and tok[3] != "dst"):
                    raise ScenarioError("expected: conn <id> <ip>:<port> [dst <ip>]")
                caddr, cport = parse_ip_port(tok[2])
                daddr = parse_ip(tok[4]) if len(tok) == 5 else svc.vaddr
                if trace is not None:
                    trace(svc, lineno, line, daddr)
                d = svc.new_conn(tok[1], caddr, cport, daddr)
                res = "%s %s" % (tok[1], d.name if d is not None else "none")
                results.append(res)
                if out is not None:
                    out.write(res + "\n")
            elif cmd in ("established", "fin", "closed"):
                if len(tok) != 2:
                    raise ScenarioError("expected: %s <id>" % cmd)
                getattr(svc, cmd)(tok[1])
            elif cmd == "time":
                if len(tok) != 2:
                    raise ScenarioError("expected: time <seconds>")
                svc.advance(_int_arg(tok[1], "time"))
            else:
                raise ScenarioError("unknown command '%s'" % cmd)
        except ScenarioError as e:
            e.lineno = lineno
            raise
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenario", nargs="?", default="-", help="scenario file (default stdin)")
    ap.add_argument("--mh-size", type=int, default=65537, help="mh lookup table size (prime)")
    ap.add_argument("--mh-bits", type=int, default=6,
                    help="IP_VS_MH_TAB_BITS, bounds the mh weight shift (kernel default 6)")
    ap.add_argument("--variant", action="append", default=[], choices=sorted(VARIANTS),
                    help="depart from the kernel on purpose, to diagnose a divergence: " +
                    "; ".join("%s: %s" % kv for kv in sorted(VARIANTS.items())))
    ap.add_argument("--trace", action="store_true",
                    help="print the server list before every pick on stderr")
    args = ap.parse_args(argv)
    if args.scenario == "-":
        lines = sys.stdin.read().splitlines()
        name = "<stdin>"
    else:
        with open(args.scenario) as f:
            lines = f.read().splitlines()
        name = args.scenario
    try:
        trace = None
        if args.trace:
            def trace(svc, lineno, line, daddr):
                sys.stderr.write("%d: t=%d %s | %s\n" % (lineno, svc.now, line,
                                                          describe(svc, daddr)))
        run(lines, args.mh_size, args.mh_bits, out=sys.stdout, trace=trace,
            variants=args.variant)
    except ScenarioError as e:
        sys.stdout.flush()
        sys.stderr.write("%s:%d: %s\n" % (name, e.lineno, e))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
