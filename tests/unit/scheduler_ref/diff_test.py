#!/usr/bin/env python3
"""Differential test: dplb-schedsim against the independent IPVS model.

1. Model self-checks: hsiphash against lib/test_siphash.c's vectors, mh slot
   counts worked out by hand, every hand-written scenario in cases/ against
   its .expected file (outputs worked out by hand from the kernel rules, not
   by running the model), malformed scenarios rejected.
2. With --schedsim: the same hand-written scenarios through the simulator,
   malformed scenarios (it must exit 2 with a message), then seeded random
   scenarios for every scheduler and flag combination plus three long
   lblc/lblcr ones (entry-count churn, table overflow), model and simulator
   side by side. The first differing line of each scenario is reported with
   the scenario saved to a kept temporary file, the model's state before that
   pick, and which deliberate model variant (if any) reproduces the
   simulator's whole output.
3. The random scenarios must reach the branches listed in REQUIRED_COVERAGE,
   so the generator cannot silently stop exercising them.

    diff_test.py [--schedsim PATH] [--seeds 1,2,3,4] [--events 3000] [--jobs 2]
"""

import argparse
import concurrent.futures
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import gen_scenarios  # noqa: E402
import ipvs_model  # noqa: E402

CASES_DIR = os.path.join(HERE, "cases")

# lib/test_siphash.c, BITS_PER_LONG == 64: hsiphash(bytes 0..i-1) with the
# key 00 01 .. 0f.
HSIPHASH_KEY = (0x0706050403020100, 0x0F0E0D0C0B0A0908)
HSIPHASH_VECTORS = [
    0x050FC4DC, 0x7D57CA93, 0x4DC7D44D, 0xE7DDF7FB, 0x88D38328, 0x49533B67, 0xC59F22A7,
    0x9BB11140, 0x8D299A8E, 0x6C063DE4, 0x92FF097F, 0xF94DC352, 0x57B4D9A2, 0x1229FFA7,
    0xC0F95D34, 0x2A519956, 0x7D908B66, 0x63DBD80C, 0xB473E63E, 0x8D297D1C, 0xA6CCE040,
    0x2B45F844, 0xA320872E, 0xDAE6C123, 0x67349C8C, 0x705B0979, 0xCA9913A5, 0x4ADE3B35,
    0xEF6CD00D, 0x4AB1E1F4, 0x43C5E663, 0x8C21D1BC, 0x16A7B60D,
]

# Branches the random suite must reach (counted by ipvs_model.COVER).
REQUIRED_COVERAGE = [
    "rr_second_pass", "rr_none", "rr_del_cursor",
    "wrr_cw_realign", "wrr_none_last_pass", "wrr_stop_at_last", "nq_idle_after_busy",
    "overload_set", "overload_cleared_by_l", "overload_cleared_by_u",
    "overload_kept_by_l", "overload_kept_by_u",
    "overload_cleared_by_edit", "overload_kept_by_edit",
    "lblc_hit", "lblc_replace", "lblc_same_dest", "lblc_deleted_dest", "lblc_rule_overloaded",
    "lblc_rule_busy_kept", "LblcScheduler_expired",
    "LblcScheduler_partial_expired", "LblcrScheduler_partial_expired",
    # (lblcr_insert_already_member needs a server far heavier in inactive
    # conns than the generator builds: cases/lblcr_member_repick.scn has it.)
    "lblcr_hit", "lblcr_grow", "lblcr_shrink", "lblcr_shrink_picked",
    "lblcr_shrink_deleted", "LblcrScheduler_expired",
    "revived", "sh_fallback_found", "sh_fallback_none",
    "mh_fallback_found", "mh_fallback_none", "mh_rshift", "mh_turns_floor",
]

# Malformed scenarios: the simulator and the model must both exit 2.
MALFORMED = {
    "no_service": "add 10.0.0.1:80 weight 1\n",
    "unknown_command": "service tcp 10.0.0.100:80 sched rr\njump 3\n",
    "bad_address": "service tcp 10.0.0.100:80 sched rr\nadd 10.0.0.300:80 weight 1\n",
    "unknown_scheduler": "service tcp 10.0.0.100:80 sched xyz\n",
    "two_services": "service tcp 10.0.0.100:80 sched rr\nservice tcp 10.0.0.100:81 sched rr\n",
}


def check_hsiphash():
    errors = []
    for i, want in enumerate(HSIPHASH_VECTORS):
        got = ipvs_model.hsiphash(bytes(range(i)), HSIPHASH_KEY)
        if got != want:
            errors.append("hsiphash(%d bytes) = %#010x, lib/test_siphash.c says %#010x" %
                          (i, got, want))
    fast = ipvs_model.HsipU32(HSIPHASH_KEY)(0x03020100)
    if fast != HSIPHASH_VECTORS[4]:
        errors.append("HsipU32 = %#010x, expected %#010x" % (fast, HSIPHASH_VECTORS[4]))
    if ipvs_model.hash_32(0x0A000064, 8) != 248:  # 10.0.0.100, worked out by hand
        errors.append("hash_32(10.0.0.100, 8) != 248")
    return errors


def check_mh_population():
    """ip_vs_mh_populate() hands out `turns` slots per dest per round until the
    table is full, so slot counts follow from the weights by hand."""
    errors = []
    mh = ipvs_model.MhScheduler(None, 65537, 6)
    a, b, c = 0x0A000001, 0x0A000002, 0x0A000003
    # List C(3) B(2) A(1): 65537 = 6 * 10922 + 5; the last partial round gives
    # C its 3 and B 2 of its 2.
    # Weights 1000 and 1: shift = fls(1000 / 1) - 6 = 4, turns 62 and 1
    # (floored up from 0); 65537 = 63 * 1040 + 17, all 17 to the list head.
    # Weights 4, 6 with gcd 2: turns 2 and 3; 65537 = 5 * 13107 + 2.
    for key, want in (
            (((c, 80, 3), (b, 80, 2), (a, 80, 1)), [32769, 21846, 10922]),
            (((b, 80, 1000), (a, 80, 1)), [64497, 1040]),
            (((b, 80, 4), (a, 80, 6)), [26216, 39321]),
            (((b, 80, 0), (a, 80, 5)), [0, 65537]),
    ):
        table, _ = mh._build(key)
        got = [table.count(i) for i in range(len(key))]
        if got != want:
            errors.append("mh population for %r: slots %r, expected %r" % (key, got, want))
    if mh._build(((a, 80, 0),)) != (None, []):
        errors.append("mh: all last_weights 0 must leave the table empty")
    return errors


def load_cases():
    """(name, path, lines, expected, {variant: expected under that variant})
    for every cases/<name>.scn; <name>.<variant>.expected files hold what a
    deliberate departure from the kernel would give, worked out by hand too."""
    cases = []
    for name in sorted(os.listdir(CASES_DIR)):
        if name.endswith(".scn"):
            base = os.path.join(CASES_DIR, name[:-4])
            with open(base + ".scn") as f:
                scn = f.read().splitlines()
            with open(base + ".expected") as f:
                exp = f.read().splitlines()
            alt = {}
            for v in ipvs_model.VARIANTS:
                if os.path.exists("%s.%s.expected" % (base, v)):
                    with open("%s.%s.expected" % (base, v)) as f:
                        alt[v] = f.read().splitlines()
            cases.append((name[:-4], base + ".scn", scn, exp, alt))
    return cases


def first_difference(a, b):
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else "<missing>"
        y = b[i] if i < len(b) else "<missing>"
        if x != y:
            return i, x, y
    return None


def conn_line_index(lines, k):
    """Scenario line number (1-based) of the k-th conn command (0-based)."""
    seen = -1
    for n, raw in enumerate(lines, 1):
        tok = raw.split("#", 1)[0].split()
        if tok and tok[0] == "conn":
            seen += 1
            if seen == k:
                return n
    return None


def run_schedsim(schedsim, path, timeout=120):
    p = subprocess.run([schedsim, path], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout.splitlines(), p.stderr


def model_state_at(lines, lineno, accepted):
    state = []

    def trace(svc, n, line, daddr):
        if n == lineno:
            state.append("t=%d %s" % (svc.now, ipvs_model.describe(svc, daddr)))

    saved = dict(ipvs_model.COVER)
    ipvs_model.run(lines, trace=trace, variants=accepted)
    ipvs_model.COVER.clear()
    ipvs_model.COVER.update(saved)
    return state[0] if state else "?"


def diagnose(lines, sim_out, accepted):
    """Names the deliberate model departures (ipvs_model.VARIANTS) under which
    the model's whole output equals the simulator's."""
    saved = dict(ipvs_model.COVER)
    found = [v for v in sorted(ipvs_model.VARIANTS) if v not in accepted and
             ipvs_model.run(lines, variants=tuple(accepted) + (v,)) == sim_out]
    ipvs_model.COVER.clear()
    ipvs_model.COVER.update(saved)
    return found


def report(title, path, lines, model_out, sim_out, diff, label="model", variants=()):
    i, m, s = diff
    n = conn_line_index(lines, i)
    msg = ["DIVERGENCE %s" % title, "  scenario: %s" % path]
    if n is not None:
        msg.append("  line %d: %s" % (n, lines[n - 1].strip()))
        msg.append("  model state before the pick: %s" % model_state_at(lines, n, variants))
    msg.append("  %-9s %s" % (label + ":", m))
    msg.append("  schedsim: %s" % s)
    for v in diagnose(lines, sim_out, variants):
        msg.append("  schedsim agrees with the model throughout under variant '%s': %s" %
                   (v, ipvs_model.VARIANTS[v]))
    return "\n".join(msg)


def random_job(args):
    """Runs in a worker: one generated scenario through model and simulator."""
    sched, flags, proto, seed, events, schedsim, workdir, accepted = args
    ipvs_model.COVER.clear()
    if sched == "lblc-churn":
        lines = gen_scenarios.generate_lblc_churn(seed)
        title = "lblc entry-count churn seed=%d" % seed
        name = "lblc-churn-seed%d.scn" % seed
    elif sched.endswith("-overflow"):
        base = sched[:-len("-overflow")]
        lines = gen_scenarios.generate_table_overflow(base, seed)
        title = "%s table overflow seed=%d" % (base, seed)
        name = "%s-overflow-seed%d.scn" % (base, seed)
    else:
        lines = gen_scenarios.generate(sched, flags, seed, events, proto)
        title = "sched=%s flags=%s proto=%s seed=%d" % (sched, ",".join(flags) or "-", proto,
                                                         seed)
        name = "%s-%s-%s-seed%d.scn" % (sched, "_".join(flags) or "noflags", proto, seed)
    t0 = time.time()
    model_out = ipvs_model.run(lines, variants=accepted)
    t_model = time.time() - t0
    result = {"title": title, "cover": dict(ipvs_model.COVER), "t_model": t_model,
              "conns": len(model_out), "error": None}
    if schedsim is None:
        return result
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    t0 = time.time()
    rc, sim_out, err = run_schedsim(schedsim, path)
    result["t_sim"] = time.time() - t0
    if rc != 0:
        result["error"] = ("FAILED %s\n  scenario: %s\n  dplb-schedsim exited %d: %s" %
                           (title, path, rc, err.strip()[:500]))
        result["keep"] = path
        return result
    diff = first_difference(model_out, sim_out)
    if diff is not None:
        result["error"] = report(title, path, lines, model_out, sim_out, diff,
                                 variants=accepted)
        result["keep"] = path
    else:
        os.unlink(path)
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--schedsim", help="path to dplb-schedsim; without it only the model is checked")
    ap.add_argument("--seeds", default="1,2,3,4",
                    help="comma-separated seeds per combination (4 consecutive seeds "
                    "cover every weight profile)")
    ap.add_argument("--events", type=int, default=3000, help="events per random scenario")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated schedulers to run (default all)")
    ap.add_argument("--accept-variant", action="append", default=[],
                    choices=sorted(ipvs_model.VARIANTS),
                    help="dplb departs from the kernel here on purpose: compare the simulator "
                    "with the model under this variant (and with <case>.<variant>.expected)")
    args = ap.parse_args(argv)
    started = time.time()
    failures = []
    accepted = tuple(args.accept_variant)

    # 1. The model against facts derived independently of it.
    failures += check_hsiphash()
    failures += check_mh_population()
    cases = load_cases()
    for name, path, scn, exp, alt in cases:
        for variant, want in [(None, exp)] + sorted(alt.items()):
            got = ipvs_model.run(scn, variants=(variant,) if variant else ())
            diff = first_difference(got, want)
            if diff is not None:
                failures.append("MODEL case %s%s (%s): output line %d is '%s', expected '%s'" %
                                (name, " (variant %s)" % variant if variant else "", path,
                                 diff[0] + 1, diff[1], diff[2]))
    for name, text in MALFORMED.items():
        try:
            ipvs_model.run(text.splitlines())
            failures.append("MODEL accepted malformed scenario %s" % name)
        except ipvs_model.ScenarioError:
            pass
    print("model: hsiphash vectors, mh populations, %d hand-written cases, %d malformed "
          "scenarios checked" %
          (len(cases), len(MALFORMED)))

    schedsim = None
    if args.schedsim:
        schedsim = os.path.abspath(args.schedsim)
        if not os.access(schedsim, os.X_OK):
            print("FAIL: %s is not an executable" % schedsim)
            return 1
        # 2a. Hand-written cases through the simulator.
        for name, path, scn, exp, alt in cases:
            rc, out, err = run_schedsim(schedsim, path)
            if rc != 0:
                failures.append("SCHEDSIM case %s: exit %d: %s" % (name, rc, err.strip()[:300]))
                continue
            for v in accepted:
                exp = alt.get(v, exp)
            diff = first_difference(exp, out)
            if diff is not None:
                failures.append(report("case %s" % name, path, scn, exp, out, diff,
                                       label="expected", variants=accepted))
        # 2b. Malformed scenarios.
        with tempfile.TemporaryDirectory(prefix="schedref-bad-") as d:
            for name, text in MALFORMED.items():
                path = os.path.join(d, name + ".scn")
                with open(path, "w") as f:
                    f.write(text)
                rc, out, err = run_schedsim(schedsim, path)
                if rc != 2 or not err.strip():
                    failures.append("SCHEDSIM malformed scenario %s: exit %d, stderr '%s' "
                                    "(expected exit 2 and a message)" % (name, rc, err.strip()))
        print("schedsim: %d hand-written cases and %d malformed scenarios checked" %
              (len(cases), len(MALFORMED)))

    # 2c/3. Random scenarios.
    seeds = [int(s) for s in args.seeds.split(",") if s]
    only = set(s for s in args.only.split(",") if s)
    workdir = tempfile.mkdtemp(prefix="schedref-")
    jobs = [(s, f, p, seed, args.events, schedsim, workdir, accepted)
            for s, f, p in gen_scenarios.COMBINATIONS if not only or s in only for seed in seeds]
    # The long scenarios first: they are the slowest jobs.
    long_jobs = [("lblc-churn", "lblc"), ("lblc-overflow", "lblc"), ("lblcr-overflow", "lblcr")]
    for kind, base in reversed(long_jobs):
        if not only or base in only:
            jobs.insert(0, (kind, (), "tcp", seeds[0], 0, schedsim, workdir, accepted))
    cover = {}
    kept = 0
    t_model = t_sim = 0.0
    n_conns = 0
    with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for res in pool.map(random_job, jobs):
            for k, v in res["cover"].items():
                cover[k] = cover.get(k, 0) + v
            t_model += res["t_model"]
            t_sim += res.get("t_sim", 0.0)
            n_conns += res["conns"]
            if res["error"]:
                failures.append(res["error"])
                kept += 1
    if not kept:
        os.rmdir(workdir)
    print("random: %d scenarios (%d events each, or long lblc/lblcr ones), %d picks compared%s "
          "(model %.1fs, schedsim %.1fs)" % (len(jobs), args.events, n_conns,
                                               "" if schedsim else " (model only)", t_model, t_sim))
    if not only:
        missing = [k for k in REQUIRED_COVERAGE if not cover.get(k)]
        if missing:
            failures.append("COVERAGE: the random scenarios never reached: %s" % ", ".join(missing))

    if accepted:
        print("accepted departures from the kernel: %s" % ", ".join(accepted))
    for f in failures:
        print(f)
    print("%s: %d failure(s) in %.1fs" % ("FAIL" if failures else "PASS", len(failures),
                                          time.time() - started))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
