#!/usr/bin/env bash
# Shared scaffolding for e2e tests that run dplbd in a namespace. Source it
# after netns.sh. It owns the EXIT trap (namespaces, dplbd, work dir) and the
# failure report; a test supplies the topology, the config and the checks.
#
#   e2e_init NAME DPLBD [DPLBADM]   root check (77), tools, $WORK, $PY, trap
#   fail MSG...                     count a failed check (the test goes on)
#   e2e_diag_file FILE...           files to print (tail) when the test fails
#   e2e_diag_ns NS...               namespaces whose links/neighbours/routes
#                                   are printed when the test fails
#   dplbd_start CONFIG              --check-config, then dplbd in namespace lb
#   dplbd_wait_until TRIES CMD...   poll CMD (0.2 s apart, bounded) while
#                                   dplbd is alive; 1 on timeout or death
#   dplbadm ARGS...                 dplbadm against this test's dplbd
#   dplbd_drop REASON               a drop counter from `dplbadm --status`
#   dplbd_stop                      SIGTERM; fail() unless it exits 0
#   e2e_finish                      exit 1 if any check failed, else PASS
#   mac_of NS IF                    an interface's MAC address
#   tun_rs_decap NS LOG VIP...      a TUN-mode real server's tunnel end:
#                                   ipip_decap.py on device tun0 holding the
#                                   VIPs (arp_ignore/announce set on the ns)
#
# Variables set: WORK, PY, DPLBD, DPLBADM, EAL_PREFIX, DPLB_SOCK, DPLBD_PID.
# Set DPLB_E2E_KEEP=1 to keep $WORK (logs, captures) after a passing run.

E2E_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FAILS=0
DPLBD_PID=""
E2E_DIAG_FILES=()
E2E_DIAG_NS=()

fail() {
  echo "FAIL: $*" >&2
  FAILS=$((FAILS + 1))
}

e2e_diag_file() { E2E_DIAG_FILES+=("$@"); }
e2e_diag_ns() { E2E_DIAG_NS+=("$@"); }

e2e_init() {
  local name=$1 tool
  DPLBD=${2:?usage: $0 /path/to/dplbd [/path/to/dplbadm]}
  DPLBADM=${3:-}
  ns_init
  DPLBD=$(readlink -f "$DPLBD")
  [[ -x $DPLBD ]] || {
    echo "dplbd not found or not executable: $DPLBD" >&2
    exit 1
  }
  if [[ -n $DPLBADM ]]; then
    DPLBADM=$(readlink -f "$DPLBADM")
    [[ -x $DPLBADM ]] || {
      echo "dplbadm not found or not executable: $DPLBADM" >&2
      exit 1
    }
  fi
  for tool in ip ethtool curl tcpdump nstat; do
    command -v "$tool" >/dev/null || {
      echo "missing tool: $tool" >&2
      exit 1
    }
  done
  # The system interpreter: a pyenv/venv shim may not work inside `ip netns exec`.
  PY=${PYTHON3:-$(command -v /usr/bin/python3 || command -v python3)}
  WORK=$(mktemp -d "/tmp/dplb-e2e-$name.XXXXXX")
  EAL_PREFIX="dplb-e2e-$name-$$"
  DPLB_SOCK="$WORK/dplb.sock"
  trap _e2e_on_exit EXIT
}

_e2e_dump_diagnostics() {
  local f ns
  echo "==================== diagnostics (work dir $WORK) ====================" >&2
  if [[ -n $DPLBD_PID && -n $DPLBADM ]] && kill -0 "$DPLBD_PID" 2>/dev/null; then
    echo "---------- dplbadm --status ----------" >&2
    dplbadm --status >&2 2>&1 || true
    echo "---------- dplbadm -L -n --stats ----------" >&2
    dplbadm -L -n --stats >&2 2>&1 || true
  fi
  if [[ -f $WORK/dplbd.log ]]; then
    echo "---------- dplbd.log ----------" >&2
    head -n 300 "$WORK/dplbd.log" >&2
  fi
  for f in "${E2E_DIAG_FILES[@]}"; do
    [[ -f $f ]] || continue
    echo "---------- $(basename "$f") (last 30) ----------" >&2
    tail -n 30 "$f" >&2
  done
  for ns in "${E2E_DIAG_NS[@]}"; do
    ip -n "$(ns_name "$ns")" -s link show 2>/dev/null | sed "s/^/$ns: /" >&2 || true
    ip -n "$(ns_name "$ns")" neigh show 2>/dev/null | sed "s/^/$ns neigh: /" >&2 || true
    ip -n "$(ns_name "$ns")" route show 2>/dev/null | sed "s/^/$ns route: /" >&2 || true
  done
  echo "======================================================================" >&2
}

_e2e_on_exit() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    _e2e_dump_diagnostics
  fi
  if [[ -n $DPLBD_PID ]] && kill -0 "$DPLBD_PID" 2>/dev/null; then
    kill -TERM "$DPLBD_PID" 2>/dev/null || true
  fi
  ns_cleanup
  rm -rf "/var/run/dpdk/$EAL_PREFIX"
  if [[ $rc -ne 0 || ${DPLB_E2E_KEEP:-0} == 1 ]]; then
    echo "logs kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}

mac_of() {
  ip -n "$(ns_name "$1")" -o link show dev "$2" | grep -oE 'link/ether [0-9a-f:]+' | cut -d' ' -f2
}

tun_rs_decap() {
  local ns=$1 log=$2 vip
  shift 2
  ns_bg "$ns" "$log" "$PY" -u "$E2E_LIB/ipip_decap.py" tun0 >/dev/null
  ns_wait_file "$log" '^ready tun0$' 100
  for vip in "$@"; do
    ns_addr "$ns" tun0 "$vip/32"
  done
  # Never answer ARP for a VIP or announce it; the tunnel's packets arrive on
  # tun0 from a client routed via eth0, so reverse-path filtering is off.
  ns_exec "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.tun0.rp_filter=0
  ip -n "$(ns_name "$ns")" link set tun0 up
}

dplbd_start() {
  local config=$1
  "$DPLBD" --check-config "$config" >/dev/null
  ns_bg lb "$WORK/dplbd.log" "$DPLBD" -c "$config" >/dev/null
  DPLBD_PID=$!
}

dplbd_wait_until() {
  local tries=$1 i
  shift
  for ((i = 0; i < tries; i++)); do
    if ! kill -0 "$DPLBD_PID" 2>/dev/null; then
      echo "dplbd is not running" >&2
      return 1
    fi
    if "$@"; then
      return 0
    fi
    sleep 0.2
  done
  echo "timeout: '$*' did not succeed in $tries tries" >&2
  return 1
}

dplbadm() {
  [[ -n $DPLBADM ]] || {
    echo "dplbadm was not given" >&2
    return 1
  }
  "$DPLBADM" --socket "$DPLB_SOCK" "$@"
}

# A drop counter by its snake_case reason (0 when absent).
dplbd_drop() {
  local n
  n=$(dplbadm --status | sed -nE "s/^ *$1[ :]+([0-9]+).*/\1/p" | head -n 1)
  echo "${n:-0}"
}

dplbd_stop() {
  local rc=0
  ns_stop "$DPLBD_PID" 100 || rc=$?
  DPLBD_PID=""
  [[ $rc -eq 0 ]] || fail "dplbd exited with status $rc after SIGTERM (expected 0)"
}

e2e_finish() {
  if [[ $FAILS -ne 0 ]]; then
    echo "$FAILS check(s) failed" >&2
    exit 1
  fi
  echo "PASS"
}
