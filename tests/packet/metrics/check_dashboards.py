#!/usr/bin/env python3
"""Checks conf/grafana/*.json and conf/prometheus/*.yml.

Without --exposition: the dashboards parse as Grafana dashboards (unique
panel ids, every query target has an expr and a refId, the datasource
variable exists), and `promtool check rules` / `promtool test rules` pass on
the alerting rules (exit 77 if promtool is missing).

check_names(source_dir, families) is used by metrics_pcap_test.py on a live
scrape: every dplb_* metric name the dashboards and rules mention must be a
family dplbd exposes (histogram series _bucket/_sum/_count count as their
family).
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys

SKIP = 77
NAME = re.compile(r"\bdplb_[a-z0-9_]+")


def dashboards(source_dir):
    return sorted(glob.glob(os.path.join(source_dir, "conf", "grafana", "*.json")))


def rule_files(source_dir):
    return sorted(f for f in glob.glob(os.path.join(source_dir, "conf", "prometheus", "*.yml"))
                  if not f.endswith(".test.yml"))


def exprs(dash):
    """Every PromQL text in a dashboard: panel targets and templating queries."""
    out = []

    def walk_panels(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append(t.get("expr", ""))
            walk_panels(p.get("panels", []))

    walk_panels(dash.get("panels", []))
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        if isinstance(q, dict):
            out.append(q.get("query", ""))
        elif v.get("type") == "query" and isinstance(q, str):
            out.append(q)
    return out


def check_structure(path):
    problems = []
    with open(path) as f:
        dash = json.load(f)  # raises on a syntax error
    if not dash.get("title") or not dash.get("uid"):
        problems.append("%s: no title or uid" % path)
    ids = []
    targets = 0

    def walk(panels):
        nonlocal targets
        for p in panels:
            ids.append(p.get("id"))
            if p.get("type") != "row":
                if not p.get("targets"):
                    problems.append("%s: panel %r has no query" % (path, p.get("title")))
                for t in p.get("targets", []):
                    targets += 1
                    if not t.get("expr") or not t.get("refId"):
                        problems.append("%s: panel %r: target without expr/refId" %
                                        (path, p.get("title")))
                if "gridPos" not in p:
                    problems.append("%s: panel %r has no gridPos" % (path, p.get("title")))
            walk(p.get("panels", []))

    walk(dash.get("panels", []))
    if len(ids) != len(set(ids)):
        problems.append("%s: panel ids are not unique" % path)
    names = {v.get("name") for v in dash.get("templating", {}).get("list", [])}
    if "datasource" not in names:
        problems.append("%s: no datasource variable" % path)
    if targets == 0:
        problems.append("%s: no queries at all" % path)
    return problems


def referenced_names(source_dir):
    """{metric name: [where]} over the dashboards and the rule files."""
    refs = {}
    for path in dashboards(source_dir):
        with open(path) as f:
            for e in exprs(json.load(f)):
                for n in NAME.findall(e):
                    refs.setdefault(n, []).append(os.path.basename(path))
    for path in rule_files(source_dir):
        with open(path) as f:
            for line in f:
                if line.lstrip().startswith("#"):
                    continue
                for n in NAME.findall(line):
                    refs.setdefault(n, []).append(os.path.basename(path))
    return refs


def check_names(source_dir, families):
    """families: {name: type} of a scrape. Returns the problems found."""
    problems = []
    refs = referenced_names(source_dir)
    if not refs:
        problems.append("no dplb_ metric referenced at all")
    for name, where in sorted(refs.items()):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        ok = name in families or (base in families and families[base] == "histogram")
        if not ok:
            problems.append("%s (in %s) is not exposed by dplbd" % (name, ", ".join(sorted(set(where)))))
    return problems


def promtool(tool, args, cwd):
    out = subprocess.run([tool] + args, capture_output=True, text=True, cwd=cwd, timeout=60)
    return out.returncode, (out.stdout + out.stderr).strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--promtool", default="")
    args = ap.parse_args()
    problems = []
    files = dashboards(args.source_dir)
    if not files:
        problems.append("no dashboard in conf/grafana")
    for path in files:
        try:
            problems += check_structure(path)
        except (ValueError, OSError) as e:
            problems.append("%s: %s" % (path, e))
    rules = rule_files(args.source_dir)
    if not rules:
        problems.append("no rule file in conf/prometheus")
    if not args.promtool:
        for p in problems:
            print("FAIL:", p)
        print("SKIP: promtool not installed (Debian package prometheus; scripts/setup.sh)")
        return 1 if problems else SKIP
    rc, text = promtool(args.promtool, ["check", "rules"] + rules, args.source_dir)
    if rc != 0:
        problems.append("promtool check rules:\n" + text)
    tests = sorted(glob.glob(os.path.join(args.source_dir, "conf", "prometheus", "*.test.yml")))
    if tests:
        rc, text = promtool(args.promtool, ["test", "rules"] + [os.path.basename(t) for t in tests],
                            os.path.join(args.source_dir, "conf", "prometheus"))
        if rc != 0:
            problems.append("promtool test rules:\n" + text)
    for p in problems:
        print("FAIL:", p)
    if problems:
        return 1
    print("%d dashboard(s), %d rule file(s), %d rule test file(s): ok" %
          (len(files), len(rules), len(tests)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
