#!/usr/bin/env bash
# The main job: set up and build, validate conf/examples/demo.yaml, then (as
# root, where network namespaces work) run dplbd with it between real kernels:
# a client, dplb on two af_packet ports, three real servers running HTTP
# servers. A few hundred HTTP requests go through the NAT VIP (wrr 3:2:1) and
# the DR VIP (persistent wlc), then dplbadm shows the tables and the health
# checks. dplbd's ports have kernel interfaces (the exception path, on by
# default): its health probes are ordinary sockets of the lb namespace and
# reach the servers through TAP lan0 and dplbd's own port, and the client's
# ping of a port address is answered once. Everything lives in namespaces
# this script creates and removes again, also on failure.
#
#   scripts/demo.sh          run it and tear everything down
#   scripts/demo.sh --keep   leave it running and print how to poke at it
#   scripts/demo.sh --down   tear down what --keep left running
#
#   client 10.0.0.5 ── wan0 [dplbd] lan0 ── bridge ── rs1..rs3 10.0.1.11-13
#            └─ 10.0.1.50 ───────────────────┘   (DR replies bypass dplb)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${DPLB_BUILD_DIR:-$ROOT/build}"
CONFIG="$ROOT/conf/examples/demo.yaml"
STATE=/run/dplb/demo.state  # what --keep left running: namespace prefix, work dir

kept_namespaces() {  # PREFIX
  ip netns list | awk -v p="$1-" 'index($1, p) == 1 { print $1 }'
}

KEEP=0
case "${1:-}" in
  "") ;;
  --keep) KEEP=1 ;;
  --down)
    if [[ ! -f $STATE ]]; then
      echo "demo: nothing left running by --keep"
      exit 0
    fi
    read -r prefix work <"$STATE"
    for ns in $(kept_namespaces "$prefix"); do
      ip netns pids "$ns" | xargs -r kill 2>/dev/null || true
    done
    for ((n = 0; n < 50; n++)); do
      pids=""
      for ns in $(kept_namespaces "$prefix"); do
        pids+=$(ip netns pids "$ns")
      done
      [[ -z $pids ]] && break
      sleep 0.1
    done
    for ns in $(kept_namespaces "$prefix"); do
      ip netns del "$ns"
    done
    rm -rf "$work" "$STATE"
    echo "demo: removed the namespaces $prefix-* and $work"
    exit 0
    ;;
  *)
    echo "usage: $0 [--keep | --down]" >&2
    exit 2
    ;;
esac
if [[ $KEEP -eq 1 && -f $STATE ]]; then
  echo "demo: a kept demo is still running; remove it first with $0 --down" >&2
  exit 1
fi

"$ROOT/scripts/setup.sh"
"$BUILD_DIR/bin/dplbd" --check-config "$CONFIG"

if [[ $(id -u) -ne 0 ]] || ! ip netns list >/dev/null 2>&1; then
  echo "demo: the live part needs root and network namespaces; stopping after the check."
  exit 0
fi

# shellcheck source=SCRIPTDIR/../tests/e2e/lib/netns.sh
source "$ROOT/tests/e2e/lib/netns.sh"
ns_init
PY=$(command -v /usr/bin/python3 || command -v python3)
WORK=$(mktemp -d /tmp/dplb-demo.XXXXXX)
SOCK=$(awk '/^admin:/ { gsub(/[{},]/, " "); for (i = 1; i <= NF; i++) if ($i == "socket:") print $(i + 1) }' "$CONFIG")
SOCK=${SOCK:-/run/dplb/dplb.sock}
cleanup_demo() {
  ns_cleanup
  rm -rf "$WORK"
}
trap cleanup_demo EXIT

echo "demo: building the topology"
ns_add_all cl lb sw rs1 rs2 rs3
ns_link cl eth0 lb veth-lb0
ns_link lb veth-lb1 sw swlb
ns_link cl eth1 sw swcl
for i in 1 2 3; do
  ns_link "rs$i" eth0 sw "swrs$i"
done
ns_bridge sw br0 swlb swcl swrs1 swrs2 swrs3
ns_exec lb sysctl -qw net.ipv4.ip_forward=0
# The veths under dplbd's af_packet ports stand in for NICs bound to DPDK,
# which the kernel never sees: the lb kernel's interfaces are dplbd's TAPs
# (wan0, lan0), and it must not answer ARP or ICMP a second time, or take
# TCP, on the veths (tests/e2e/lib/netns.sh).
ns_dpdk_owned lb veth-lb0 veth-lb1
ns_addr cl eth0 10.0.0.5/24
ns_addr cl eth1 10.0.1.50/24
for i in 1 2 3; do
  rs="rs$i"
  ns_addr "$rs" eth0 "10.0.1.1$i/24"
  ip -n "$(ns_name "$rs")" route add default via 10.0.1.2
  # DR: the VIP on lo, never answered for on the wire; replies from the VIP
  # go straight to the client, everything else back through dplb (NAT).
  ip -n "$(ns_name "$rs")" addr add 10.0.0.101/32 dev lo
  ns_exec "$rs" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
  ip -n "$(ns_name "$rs")" rule add from 10.0.0.101 table 101
  ip -n "$(ns_name "$rs")" route add 10.0.0.0/24 via 10.0.1.50 table 101
  mkdir -p "$WORK/$rs"
  echo "$rs" >"$WORK/$rs/whoami"
  echo ok >"$WORK/$rs/healthz"  # the web service's http health check
  ns_bg "$rs" "$WORK/$rs.nat.log" "$PY" -m http.server 8080 --bind 0.0.0.0 --directory "$WORK/$rs" >/dev/null
  ns_bg "$rs" "$WORK/$rs.dr.log" "$PY" -m http.server 80 --bind 0.0.0.0 --directory "$WORK/$rs" >/dev/null
done
for i in 1 2 3; do
  ns_wait_tcp "rs$i" 127.0.0.1 8080 100
  ns_wait_tcp "rs$i" 127.0.0.1 80 100
done

echo "demo: starting dplbd -c $CONFIG"
ns_bg lb "$WORK/dplbd.log" "$BUILD_DIR/bin/dplbd" -c "$CONFIG" >/dev/null
DPLBD=$!
ns_wait_file "$WORK/dplbd.log" "admin socket" 200 || {
  cat "$WORK/dplbd.log"
  exit 1
}

requests() {  # VIP COUNT -> per-server counts
  local vip=$1 count=$2 ok=0 fail=0
  for ((n = 0; n < count; n++)); do
    if who=$(ns_exec cl curl -s --max-time 3 "http://$vip/whoami"); then
      echo "$who"
      ok=$((ok + 1))
    else
      fail=$((fail + 1))
    fi
  done >"$WORK/answers"
  echo "  $ok answered, $fail failed; by server: $(sort "$WORK/answers" | uniq -c | tr -s ' ' | tr '\n' ' ')"
}

# The first packets resolve ARP on both sides.
ns_poll 40 0.1 ns_exec cl curl -s --max-time 1 -o /dev/null http://10.0.0.100/whoami || true
echo "demo: 300 HTTP requests to the NAT VIP 10.0.0.100:80 (wrr 3:2:1)"
requests 10.0.0.100 300
echo "demo: 60 HTTP requests to the DR VIP 10.0.0.101:80 (persistent: one client, one server)"
requests 10.0.0.101 60

# The health checks probe from the lb namespace through the TAPs (its kernel
# has no other way to 10.0.1.0/24): wait (bounded) until every server has
# answered a probe.
probed() {
  [[ $("$BUILD_DIR/bin/dplbadm" --socket "$SOCK" --status 2>/dev/null | grep -c ' up .* last ok ') -eq 6 ]]
}
ns_poll 100 0.1 probed || true
echo "demo: ping of the port address 10.0.0.2 from the client (answered once, through dplbd)"
ns_exec cl ping -c 3 -i 0.2 -W 2 10.0.0.2 >"$WORK/ping.out" 2>&1 || true
grep -E 'packets transmitted' "$WORK/ping.out" | sed 's/^/  /'
if grep -q DUP "$WORK/ping.out" || ! grep -q ' 0% packet loss' "$WORK/ping.out"; then
  cat "$WORK/ping.out"
  echo "demo: FAILED: duplicate or missing echo replies" >&2
  exit 1
fi

echo
echo "\$ ip -4 addr show / ip route   (lb namespace: the TAPs)"
ip -n "$(ns_name lb)" -4 -o addr show | awk '{ print "  " $2, $4 }'
ip -n "$(ns_name lb)" route show | sed 's/^/  /'
echo
echo "\$ dplbadm --status"
"$BUILD_DIR/bin/dplbadm" --socket "$SOCK" --status
probed || {
  echo "demo: FAILED: not every real server was probed ok through the TAPs" >&2
  exit 1
}
echo
echo "\$ dplbadm -L -n"
"$BUILD_DIR/bin/dplbadm" --socket "$SOCK" -L -n
echo
echo "\$ dplbadm -L -n --stats"
"$BUILD_DIR/bin/dplbadm" --socket "$SOCK" -L -n --stats
echo
# /metrics of the live daemon (inside the lb namespace, on metrics.listen):
# traffic, connections and health per service and real server; promtool (Debian
# package prometheus) checks the whole scrape.
METRICS_ADDR=$(sed -n 's|.*metrics on http://\([^/]*\)/metrics.*|\1|p' "$WORK/dplbd.log" | head -1)
if [[ -n $METRICS_ADDR ]]; then
  ns_exec lb curl -s --max-time 5 "http://$METRICS_ADDR/metrics" >"$WORK/metrics.txt"
  echo "\$ curl -s http://$METRICS_ADDR/metrics | grep ...   ($(grep -vc '^#' "$WORK/metrics.txt") series)"
  grep -E '^dplb_(service_connections_total|service_in_bytes_total|service_servers_up|real_server_connections_total|real_server_active_connections|real_server_inactive_connections|real_server_up|conn_table_entries|build_info)[{ ]' \
    "$WORK/metrics.txt" | grep -E 'service="web"|conn_table|build_info' || true
  grep -E '^dplb_drops_total\{.*\} [1-9]' "$WORK/metrics.txt" || true
  echo "\$ promtool check metrics < scrape"
  if command -v promtool >/dev/null 2>&1; then
    promtool check metrics <"$WORK/metrics.txt" && echo "  promtool: no complaints"
  else
    echo "  (promtool not installed: Debian package prometheus)"
  fi
  echo
fi
if [[ $KEEP -eq 1 ]]; then
  trap - EXIT
  mkdir -p "$(dirname "$STATE")"
  echo "$NS_PREFIX $WORK" >"$STATE"
  cat <<EOF
demo: left running (namespaces $NS_PREFIX-*; dplbd log $WORK/dplbd.log). Try:
  ip netns exec $NS_PREFIX-cl curl -s http://10.0.0.100/whoami      # NAT VIP
  ip netns exec $NS_PREFIX-cl curl -s http://10.0.0.101/whoami      # DR VIP
  $BUILD_DIR/bin/dplbadm --socket $SOCK -L -n --stats
  $BUILD_DIR/bin/dplbadm --socket $SOCK -L -n --rate
  $BUILD_DIR/bin/dplbadm --socket $SOCK --status
  ip netns exec $NS_PREFIX-lb curl -s http://${METRICS_ADDR:-127.0.0.1:9550}/metrics | grep '^dplb_service'
  rm $WORK/rs1/healthz         # rs1 fails its http check and is quiesced (see --status, -L -n)
  echo ok >$WORK/rs1/healthz   # ... and comes back after 2 good probes
  $0 --down                    # tear it all down
EOF
  exit 0
fi
ns_stop "$DPLBD" 100
tail -1 "$WORK/dplbd.log"
