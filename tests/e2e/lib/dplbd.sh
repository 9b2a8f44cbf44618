#!/usr/bin/env bash
# Shared scaffolding for e2e tests that run dplbd in a namespace. Source it
# (it sources netns.sh and traffic.sh). It owns the EXIT trap (namespaces,
# dplbd, work dir) and the failure report; a test supplies the topology, the
# config and the checks.
#
#   e2e_init NAME DPLBD [DPLBADM]   root check (77), tools, $WORK, $PY, trap
#   e2e_need TOOL...                more tools the test needs (exit 1 if missing)
#   e2e_need_tun                    skip (77) without /dev/net/tun (TAPs)
#   fail MSG...                     count a failed check (the test goes on)
#   e2e_diag_file FILE...           files to print (tail) when the test fails
#   e2e_diag_ns NS...               namespaces whose addresses/neighbours/routes
#                                   are printed when the test fails
#   e2e_diag_cmd FUNC               also run FUNC (output to stderr) on failure
#   e2e_at_exit FUNC                run FUNC first thing at exit (stop clients)
#   e2e_servers_behind SW BR GW ADDR...
#                                   real servers rs1..rsN (namespaces made):
#                                   eth0 linked to SW's bridge BR as swrsI,
#                                   address ADDR/24, default route via GW
#                                   (none when GW is "")
#   e2e_two_arm_topology CLIENT LAN_GW RS_ADDR...
#                                   (namespaces cl lb sw rs1..rsN made) cl eth0
#                                   (CLIENT) -- lbwan in lb; lblan in lb --
#                                   swlb in sw's bridge br0; the servers on br0
#                                   with default route via LAN_GW (dplbd's lan
#                                   port); lb does not forward
#   e2e_routed_topology CLIENT RT_CLIENT_SIDE RT_SERVER_SIDE
#                                   (namespaces cl lb rt sw made) two segments
#                                   bridged in sw: br0 holds cl eth0 (CLIENT,
#                                   default via rt), lb wan0 and rt eth0; br1
#                                   holds lb lan0 and rt eth1 (the servers go
#                                   there: e2e_servers_behind sw br1 ...); rt
#                                   forwards, lb does not
#   e2e_expect_no_kernel_addr NS DEV...
#                                   fail() for each DEV holding an IPv4 address
#   dplbd_yaml_dataplane [--exception-path] NAME=IFACE:CIDR[:MTU]...
#                                   the dataplane: section of a test config
#                                   (exception path off unless asked for);
#                                   more dataplane keys may follow, indented 2
#   dplbd_yaml_service NAME VIP PORT PROTO SCHED FWD RSPORT RS...
#                                   one service; RSPORT "-" for none, each RS
#                                   ADDR or ADDR:WEIGHT
#   dplbd_yaml_tail                 admin (this test's socket), metrics, logging
#   dplbd_start CONFIG              --check-config, then dplbd in namespace lb
#   dplbd_wait_until TRIES CMD...   poll CMD (0.2 s apart, bounded) while
#                                   dplbd is alive; 1 on timeout or death
#   dplbd_wait_http TRIES URL...    dplbd_wait_until a GET from cl to each URL
#                                   succeeds; exit 1 if one never does
#   e2e_warm_up N URL               N more GETs from cl (fail() for each miss)
#   dplbadm ARGS...                 dplbadm against this test's dplbd
#   dplbd_drop REASON               a drop counter from `dplbadm --status`
#   dplbd_stop                      SIGTERM; fail() unless it exits 0
#   dplbd_stopped_line              dplbd's "stopped: ..." summary ('' if none)
#   e2e_finish                      exit 1 if any check failed, else PASS
#   mac_of NS IF                    an interface's MAC address
#   tun_rs_decap NS LOG VIP...      a TUN-mode real server's tunnel end:
#                                   ipip_decap.py on device tun0 holding the
#                                   VIPs (arp_ignore/announce set on the ns)
#
# Variables set: WORK, PY, DPLBD, DPLBADM, EAL_PREFIX, DPLB_SOCK, DPLBD_PID.
# Set DPLB_E2E_KEEP=1 to keep $WORK (logs, captures) after a passing run.

E2E_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/netns.sh
source "$E2E_LIB/netns.sh"
# shellcheck source=SCRIPTDIR/traffic.sh
source "$E2E_LIB/traffic.sh"

FAILS=0
DPLBD_PID=""
E2E_DIAG_FILES=()
E2E_DIAG_NS=()
E2E_DIAG_CMDS=()
E2E_EXIT_CMDS=()

fail() {
  echo "FAIL: $*" >&2
  FAILS=$((FAILS + 1))
}

e2e_diag_file() { E2E_DIAG_FILES+=("$@"); }
e2e_diag_ns() { E2E_DIAG_NS+=("$@"); }
e2e_diag_cmd() { E2E_DIAG_CMDS+=("$1"); }
e2e_at_exit() { E2E_EXIT_CMDS+=("$1"); }

e2e_need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || {
      echo "missing tool: $tool (scripts/setup.sh installs it)" >&2
      exit 1
    }
  done
}

e2e_need_tun() {
  if [[ ! -c /dev/net/tun ]]; then
    echo "SKIP: no /dev/net/tun (the exception path needs TAP devices)" >&2
    exit 77
  fi
}

e2e_init() {
  local name=$1
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
  e2e_need ip ethtool curl tcpdump nstat
  # The system interpreter: a pyenv/venv shim may not work inside `ip netns exec`.
  PY=${PYTHON3:-$(command -v /usr/bin/python3 || command -v python3)}
  WORK=$(mktemp -d "/tmp/dplb-e2e-$name.XXXXXX")
  EAL_PREFIX="dplb-e2e-$name-$$"
  DPLB_SOCK="$WORK/dplb.sock"
  trap _e2e_on_exit EXIT
}

e2e_servers_behind() {
  local sw=$1 br=$2 gw=$3 i=0 addr
  shift 3
  for addr in "$@"; do
    i=$((i + 1))
    ns_link "rs$i" eth0 "$sw" "swrs$i"
    ns_bridge "$sw" "$br" "swrs$i"
    ns_addr "rs$i" eth0 "$addr/24"
    [[ -z $gw ]] || ip -n "$(ns_name "rs$i")" route add default via "$gw"
  done
}

e2e_two_arm_topology() {
  local client=$1 gw=$2
  shift 2
  ns_link cl eth0 lb lbwan
  ns_link lb lblan sw swlb
  ns_bridge sw br0 swlb
  e2e_servers_behind sw br0 "$gw" "$@"
  ns_exec lb sysctl -qw net.ipv4.ip_forward=0
  ns_addr cl eth0 "$client/24"
}

e2e_routed_topology() {
  local client=$1 rt_client_side=$2 rt_server_side=$3
  ns_link cl eth0 sw swcl
  ns_link lb wan0 sw swlbw
  ns_link rt eth0 sw swrt0
  ns_link lb lan0 sw swlbl
  ns_link rt eth1 sw swrt1
  ns_bridge sw br0 swcl swlbw swrt0
  ns_bridge sw br1 swlbl swrt1
  ns_exec lb sysctl -qw net.ipv4.ip_forward=0
  ns_exec rt sysctl -qw net.ipv4.ip_forward=1
  ns_addr cl eth0 "$client/24"
  ip -n "$(ns_name cl)" route add default via "$rt_client_side"
  ns_addr rt eth0 "$rt_client_side/24"
  ns_addr rt eth1 "$rt_server_side/24"
}

e2e_expect_no_kernel_addr() {
  local ns=$1 dev
  shift
  for dev in "$@"; do
    [[ -z $(ip -n "$(ns_name "$ns")" -4 -o addr show dev "$dev") ]] || fail "$dev has a kernel address"
  done
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
    # Start-up and the end are where the story is; a long middle is cut.
    if [[ $(wc -l <"$WORK/dplbd.log") -le 300 ]]; then
      echo "---------- dplbd.log ----------" >&2
      cat "$WORK/dplbd.log" >&2
    else
      echo "---------- dplbd.log (first 100 and last 200 lines) ----------" >&2
      head -n 100 "$WORK/dplbd.log" >&2
      echo "[...]" >&2
      tail -n 200 "$WORK/dplbd.log" >&2
    fi
  fi
  for f in "${E2E_DIAG_FILES[@]}"; do
    [[ -f $f ]] || continue
    echo "---------- $(basename "$f") (last 30) ----------" >&2
    tail -n 30 "$f" >&2
  done
  for f in "${E2E_DIAG_CMDS[@]}"; do
    "$f" >&2 2>&1 || true
  done
  for ns in "${E2E_DIAG_NS[@]}"; do
    ip -n "$(ns_name "$ns")" -s addr show 2>/dev/null | sed "s/^/$ns: /" >&2 || true
    ip -n "$(ns_name "$ns")" neigh show 2>/dev/null | sed "s/^/$ns neigh: /" >&2 || true
    ip -n "$(ns_name "$ns")" route show 2>/dev/null | sed "s/^/$ns route: /" >&2 || true
  done
  echo "======================================================================" >&2
}

_e2e_on_exit() {
  local rc=$? f
  for f in "${E2E_EXIT_CMDS[@]}"; do
    "$f" || true
  done
  # 77 is a skip, not a failure: nothing to diagnose or keep.
  if [[ $rc -ne 0 && $rc -ne 77 ]]; then
    _e2e_dump_diagnostics
  fi
  if [[ -n $DPLBD_PID ]] && kill -0 "$DPLBD_PID" 2>/dev/null; then
    kill -TERM "$DPLBD_PID" 2>/dev/null || true
  fi
  ns_cleanup
  rm -rf "/var/run/dpdk/$EAL_PREFIX"
  if [[ ($rc -ne 0 && $rc -ne 77) || ${DPLB_E2E_KEEP:-0} == 1 ]]; then
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

dplbd_yaml_dataplane() {
  local exception=0 i=0 spec iface cidr mtu
  if [[ ${1:-} == --exception-path ]]; then
    exception=1
    shift
  fi
  echo "dataplane:"
  echo "  lcores: \"0-1\""
  echo "  eal_args: [\"--no-huge\", \"-m\", \"256\", \"--no-pci\", \"--file-prefix=$EAL_PREFIX\"]"
  echo "  idle_sleep: 50us"
  # The exception path is on by default; most tests leave the lb kernel out.
  [[ $exception -eq 1 ]] || echo "  exception_path: false"
  echo "  conn_table: { capacity: 4096 }"
  echo "  ports:"
  for spec in "$@"; do
    IFS=: read -r iface cidr mtu <<<"${spec#*=}"
    echo "    - name: ${spec%%=*}"
    echo "      device: \"net_af_packet$i,iface=$iface\""
    echo "      addresses: [$cidr]"
    [[ -z $mtu ]] || echo "      mtu: $mtu"
    i=$((i + 1))
  done
}

dplbd_yaml_service() {
  local name=$1 vip=$2 port=$3 proto=$4 sched=$5 fwd=$6 rsport=$7 rs entry
  shift 7
  echo "  - name: $name"
  echo "    vip: $vip"
  echo "    port: $port"
  echo "    protocol: $proto"
  echo "    scheduler: $sched"
  echo "    forward: $fwd"
  echo "    real_servers:"
  for rs in "$@"; do
    entry="address: ${rs%%:*}"
    [[ $rsport == - ]] || entry+=", port: $rsport"
    [[ $rs != *:* ]] || entry+=", weight: ${rs#*:}"
    echo "      - { $entry }"
  done
}

dplbd_yaml_tail() {
  echo "admin: { socket: $DPLB_SOCK }"
  echo "metrics: { listen: \"\" }"
  echo "logging: { level: info }"
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

dplbd_wait_http() {
  local tries=$1 url
  shift
  for url in "$@"; do
    dplbd_wait_until "$tries" ns_exec cl curl -sf --connect-timeout 1 --max-time 2 -o /dev/null "$url" || {
      echo "no answer from $url" >&2
      exit 1
    }
  done
}

e2e_warm_up() {
  local n=$1 url=$2 try
  for ((try = 0; try < n; try++)); do
    ns_exec cl curl -sf --connect-timeout 2 --max-time 3 -o /dev/null "$url" ||
      fail "warm-up request $try through $url"
  done
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

dplbd_stopped_line() {
  grep -oE 'stopped: rx [0-9]+ tx [0-9]+ dropped [0-9]+ packets, [0-9]+ connections' \
    "$WORK/dplbd.log" || true
}

e2e_finish() {
  if [[ $FAILS -ne 0 ]]; then
    echo "$FAILS check(s) failed" >&2
    exit 1
  fi
  echo "PASS"
}
