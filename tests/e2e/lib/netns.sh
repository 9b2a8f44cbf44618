#!/usr/bin/env bash
# Network-namespace helpers for dplb's end-to-end tests. Source this file.
#
# Every name a test creates carries the prefix $NS_PREFIX (unique per run) and
# is registered for teardown; `ns_cleanup` (installed as an EXIT trap by
# ns_init) deletes them all, on success and on failure. Addresses used are
# 10.x addresses that exist only inside these namespaces (TESTING-NOTES.md).
#
#   ns_init                      unique prefix, EXIT trap, sanity checks
#   ns_add NAME                  namespace $NS_PREFIX-NAME, lo up, rp_filter 0
#   ns_add_all NAME...           ns_add and ns_no_ipv6 for each
#   ns_link A IFA B IFB          single-queue veth pair, offloads off, both up
#   ns_addr NS IF CIDR           address an interface
#   ns_exec NS CMD...            run in namespace
#   ns_bridge NS BR IF...        bridge some interfaces of one namespace (the
#                                bridge is made on first use, later calls add)
#   ns_bg NS LOG CMD...          start a background process, killed at cleanup
#                                (call it directly, not in $(...), and read $! to
#                                keep the PID registered and waitable)
#   ns_wait_tcp NS IP PORT [N]   wait (bounded) until a TCP port accepts
#   ns_no_ipv6 NS                disable IPv6 in a namespace (no RS/DAD/MLD noise)
#   ns_wait_file FILE REGEX [N]  wait (bounded) until a file has a matching line
#   ns_poll TRIES DELAY CMD...   run CMD until it succeeds, DELAY s apart, at
#                                most TRIES times; 1 if it never did
#   ns_neigh_mac NS IP DEV       the MAC of IP in NS's neighbour table ('' if none)
#   ns_route_mtu NS DST          the path MTU NS's kernel caches for DST, or "none"
#   ns_nstat NS COUNTER          an nstat counter of NS (absolute value)
#   ns_stop PID [N]              SIGTERM an ns_bg process, wait (bounded), return
#                                its exit status (SIGKILL and 124 on timeout)
#   ns_dpdk_owned NS IF...       interfaces a dplbd port owns (net_af_packet on
#                                a veth) in a namespace whose kernel has dplbd's
#                                TAPs: the kernel there must not see them

set -o pipefail

NS_PREFIX=""
NS_LIST=()
NS_PIDS=()

ns_init() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: end-to-end tests need root (network namespaces)" >&2
    exit 77
  fi
  NS_PREFIX="dplb$$"
  trap ns_cleanup EXIT
  trap 'exit 130' INT TERM
}

ns_name() { echo "$NS_PREFIX-$1"; }

ns_poll() {
  local tries=$1 delay=$2 i
  shift 2
  for ((i = 0; i < tries; i++)); do
    if "$@"; then
      return 0
    fi
    sleep "$delay"
  done
  return 1
}

ns_add() {
  local ns
  ns=$(ns_name "$1")
  ip netns add "$ns"
  NS_LIST+=("$ns")
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
}

ns_add_all() {
  local ns
  for ns in "$@"; do
    ns_add "$ns"
    ns_no_ipv6 "$ns"
  done
}

ns_offloads_off() {
  local ns=$1 ifname=$2
  ip netns exec "$ns" ethtool -K "$ifname" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
}

ns_link() {
  local a b
  a=$(ns_name "$1")
  b=$(ns_name "$3")
  ip link add "$2" netns "$a" numtxqueues 1 numrxqueues 1 type veth \
    peer name "$4" netns "$b" numtxqueues 1 numrxqueues 1
  ip -n "$a" link set "$2" up
  ip -n "$b" link set "$4" up
  ns_offloads_off "$a" "$2"
  ns_offloads_off "$b" "$4"
  ip netns exec "$a" sysctl -qw "net.ipv4.conf.$2.rp_filter=0"
  ip netns exec "$b" sysctl -qw "net.ipv4.conf.$4.rp_filter=0"
}

ns_addr() { ip -n "$(ns_name "$1")" addr add "$3" dev "$2"; }

ns_exec() {
  local ns
  ns=$(ns_name "$1")
  shift
  ip netns exec "$ns" "$@"
}

ns_bridge() {
  local ns br ifname
  ns=$(ns_name "$1")
  br=$2
  shift 2
  if ! ip -n "$ns" link show dev "$br" >/dev/null 2>&1; then
    ip -n "$ns" link add "$br" type bridge
    ip -n "$ns" link set "$br" up
  fi
  for ifname in "$@"; do
    ip -n "$ns" link set "$ifname" master "$br"
  done
}

ns_bg() {
  local ns log
  ns=$(ns_name "$1")
  log=$2
  shift 2
  ip netns exec "$ns" "$@" >"$log" 2>&1 &
  NS_PIDS+=($!)
  echo $!
}

ns_wait_tcp() {
  local ns ip port tries
  ns=$(ns_name "$1")
  ip=$2 port=$3 tries=${4:-100}
  ns_poll "$tries" 0.1 ip netns exec "$ns" bash -c "exec 3<>/dev/tcp/$ip/$port" 2>/dev/null || {
    echo "timeout waiting for $ip:$port in $ns" >&2
    return 1
  }
}

ns_no_ipv6() {
  ip netns exec "$(ns_name "$1")" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1
}

# Polls every 0.1 s, N tries (default 100 = 10 s).
ns_wait_file() {
  local file=$1 regex=$2 tries=${3:-100}
  ns_poll "$tries" 0.1 grep -qE -- "$regex" "$file" 2>/dev/null || {
    echo "timeout waiting for /$regex/ in $file" >&2
    return 1
  }
}

ns_neigh_mac() {
  ip -n "$(ns_name "$1")" neigh show "$2" dev "$3" | grep -oE 'lladdr [0-9a-f:]+' | cut -d' ' -f2 || true
}

ns_route_mtu() {
  local mtu
  mtu=$(ns_exec "$1" ip -o route get "$2" | grep -oE ' mtu [0-9]+' | awk '{print $2}' || true)
  echo "${mtu:-none}"
}

ns_nstat() {
  ns_exec "$1" nstat -az "$2" | awk -v n="$2" '$1 == n {print $2}'
}

# The PID must be one ns_bg started in this shell (so `wait` can reap it and
# read its status). Polls every 0.1 s, N tries (default 100 = 10 s).
ns_stop() {
  local pid=$1 tries=${2:-100} rc=0 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < tries; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "process $pid did not stop within $((tries / 10)) s of SIGTERM; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 124
  fi
  wait "$pid" || rc=$?
  return "$rc"
}

# A NIC bound to DPDK has no kernel side; a veth under net_af_packet does, and
# its kernel would answer ARP and ICMP for the TAPs' addresses a second time
# (duplicate replies) and take TCP/UDP meant for them. arp_ignore=8: never
# answer ARP on it; rp_filter=1 (strict): an IP packet arriving on it is
# dropped, because the route back to any sender is a TAP's (or none). The
# packet socket still sees every frame. With IPv6 off in the namespace
# (ns_no_ipv6) nothing else reaches the kernel through it.
ns_dpdk_owned() {
  local ns ifname
  ns=$(ns_name "$1")
  shift
  for ifname in "$@"; do
    ip netns exec "$ns" sysctl -qw "net.ipv4.conf.$ifname.arp_ignore=8" \
      "net.ipv4.conf.$ifname.rp_filter=1"
  done
}

ns_cleanup() {
  local pid ns
  for pid in "${NS_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${NS_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  for ns in "${NS_LIST[@]}"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
}
