#!/usr/bin/env bash
# End-to-end exception-path test: dplbd's ports get kernel interfaces (TAPs)
# in its namespace, so the host's own traffic works through DPDK-owned ports.
#
#   usage: exception_e2e_test.sh /path/to/dplbd        (root; exit 77 = skipped)
#
#   cl (client)            lb (dplbd)                          sw (bridge)   rs1
#   eth0 10.0.0.5/24 ---- lbwan  [wan0 10.0.0.2, TAP wan0]      br0 -------- eth0 10.0.1.11/24
#                                [VIP 10.0.0.100]                |           default via 10.0.1.2
#                         lblan  [lan0 10.0.1.2, TAP lan0] ---- swlb         (http.server :8080)
#                                [route 10.0.2.0/24              |
#                                   via 10.0.1.254]          rt (router)       far
#                                                eth0 10.0.1.254  eth1 10.0.2.1 -- eth0 10.0.2.11/24
#                                                                                default via 10.0.2.1
#                                                                               (http.server :8080)
#
# dplbd runs with the exception path on (the default). Checks:
#  - the TAPs wan0 and lan0 exist in lb with the ports' addresses and MTU;
#  - the configured static route 10.0.2.0/24 via 10.0.1.254 is in lb's kernel
#    on TAP lan0 (proto static), and only there;
#  - from lb, `curl` to the real server's address goes out through TAP lan0
#    and dplbd's port, and succeeds (the server sees 10.0.1.2);
#  - from lb, `curl` to the server behind the router (10.0.2.11) goes out
#    through TAP lan0 to the gateway and succeeds (it sees 10.0.1.2);
#  - from cl, `ping` of the port address 10.0.0.2 and of the VIP succeeds;
#  - from cl, TCP to a kernel server bound to 10.0.0.2 in lb succeeds
#    (inbound exception path);
#  - at the same time as the host's curls, HTTP through the VIP (NAT) works.
#
# The veths dplbd's af_packet ports sit on live in the same namespace as the
# TAPs. Their kernel side must not answer for the TAPs' addresses (a real NIC
# bound to DPDK has no kernel side): ns_dpdk_owned (arp_ignore=8 and strict
# rp_filter on them) keeps the lb kernel to the TAPs.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/netns.sh
source "$HERE/../lib/netns.sh"

DPLBD=${1:?usage: $0 /path/to/dplbd}
ns_init
DPLBD=$(readlink -f "$DPLBD")
for tool in ip ethtool curl ping; do
  command -v "$tool" >/dev/null || {
    echo "missing tool: $tool (scripts/setup.sh installs it)" >&2
    exit 1
  }
done
if [[ ! -c /dev/net/tun ]]; then
  echo "SKIP: no /dev/net/tun (the exception path needs TAP devices)" >&2
  exit 77
fi
PY=${PYTHON3:-$(command -v /usr/bin/python3 || command -v python3)}

readonly CLIENT=10.0.0.5
readonly WAN_ADDR=10.0.0.2
readonly VIP=10.0.0.100
readonly LAN_ADDR=10.0.1.2
readonly RS=10.0.1.11
readonly ROUTER_LAN=10.0.1.254
readonly ROUTER_FAR=10.0.2.1
readonly FAR_NET=10.0.2.0/24
readonly FAR=10.0.2.11

WORK=$(mktemp -d /tmp/dplb-e2e-exc.XXXXXX)
EAL_PREFIX="dplb-e2e-exc-$$"
DPLBD_PID=""
FAILS=0

fail() {
  echo "FAIL: $*" >&2
  FAILS=$((FAILS + 1))
}

on_exit() {
  local rc=$?
  if [[ -n $DPLBD_PID ]] && kill -0 "$DPLBD_PID" 2>/dev/null; then
    kill -TERM "$DPLBD_PID" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 ]]; then
    echo "==================== diagnostics (work dir $WORK) ====================" >&2
    for f in "$WORK"/*.log "$WORK"/*.out; do
      [[ -f $f ]] || continue
      echo "---------- $(basename "$f") (last 60) ----------" >&2
      tail -n 60 "$f" >&2
    done
    for ns in cl lb rs1 rt far; do
      ip -n "$(ns_name $ns)" -s addr show 2>/dev/null | sed "s/^/$ns: /" >&2 || true
      ip -n "$(ns_name $ns)" neigh show 2>/dev/null | sed "s/^/$ns neigh: /" >&2 || true
      ip -n "$(ns_name $ns)" route show 2>/dev/null | sed "s/^/$ns route: /" >&2 || true
    done
  fi
  ns_cleanup
  rm -rf "/var/run/dpdk/$EAL_PREFIX"
  if [[ $rc -ne 0 ]]; then
    echo "logs kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap on_exit EXIT

# ---------------------------------------------------------------- topology
for ns in cl lb sw rs1 rt far; do
  ns_add "$ns"
  ns_no_ipv6 "$ns"
done
ns_link cl eth0 lb lbwan
ns_link lb lblan sw swlb
ns_link rs1 eth0 sw swrs1
ns_link rt eth0 sw swrt
ns_link rt eth1 far eth0
ns_bridge sw br0 swlb swrs1 swrt
ns_exec lb sysctl -qw net.ipv4.ip_forward=0
ns_dpdk_owned lb lbwan lblan
ns_addr cl eth0 "$CLIENT/24"
ns_addr rs1 eth0 "$RS/24"
ip -n "$(ns_name rs1)" route add default via "$LAN_ADDR"
ns_addr rt eth0 "$ROUTER_LAN/24"
ns_addr rt eth1 "$ROUTER_FAR/24"
ns_exec rt sysctl -qw net.ipv4.ip_forward=1
ns_addr far eth0 "$FAR/24"
ip -n "$(ns_name far)" route add default via "$ROUTER_FAR"

mkdir -p "$WORK/www"
printf 'rs1' >"$WORK/www/whoami"
ns_bg rs1 "$WORK/rs1.http.log" "$PY" -u -m http.server 8080 --bind 0.0.0.0 \
  --directory "$WORK/www" >/dev/null
ns_wait_tcp rs1 127.0.0.1 8080 100
mkdir -p "$WORK/far"
printf 'far' >"$WORK/far/whoami"
ns_bg far "$WORK/far.http.log" "$PY" -u -m http.server 8080 --bind 0.0.0.0 \
  --directory "$WORK/far" >/dev/null
ns_wait_tcp far 127.0.0.1 8080 100

# ---------------------------------------------------------------- dplbd
cat >"$WORK/dplb.yaml" <<EOF
dataplane:
  lcores: "0-1"
  eal_args: ["--no-huge", "-m", "256", "--no-pci", "--file-prefix=$EAL_PREFIX"]
  idle_sleep: 50us
  ports:
    - name: wan0
      device: "net_af_packet0,iface=lbwan"
      addresses: [$WAN_ADDR/24]
    - name: lan0
      device: "net_af_packet1,iface=lblan"
      addresses: [$LAN_ADDR/24]
  routes:
    - { prefix: $FAR_NET, via: $ROUTER_LAN }
  conn_table: { capacity: 4096 }
  reassembly: { max_flows: 64 }
services:
  - name: web
    vip: $VIP
    port: 80
    protocol: tcp
    scheduler: rr
    forward: nat
    real_servers:
      - { address: $RS, port: 8080 }
admin: { socket: $WORK/dplb.sock }
metrics: { listen: "" }
logging: { level: info }
EOF
"$DPLBD" --check-config "$WORK/dplb.yaml" >/dev/null
ns_bg lb "$WORK/dplbd.log" "$DPLBD" -c "$WORK/dplb.yaml" >/dev/null
DPLBD_PID=$!
ns_wait_file "$WORK/dplbd.log" "admin socket" 200 || exit 1
grep -q "no kernel interface" "$WORK/dplbd.log" && fail "dplbd made no TAP: $(grep 'no kernel interface' "$WORK/dplbd.log")"

# The TAPs: named like the ports, up, with the ports' addresses and MTU.
for pair in wan0:$WAN_ADDR lan0:$LAN_ADDR; do
  dev=${pair%%:*} addr=${pair#*:}
  line=$(ip -n "$(ns_name lb)" -o -4 addr show dev "$dev" 2>/dev/null || true)
  [[ $line == *"inet $addr/24"* ]] || fail "$dev does not hold $addr/24: '$line'"
  link=$(ip -n "$(ns_name lb)" -o link show dev "$dev" 2>/dev/null || true)
  [[ $link == *"mtu 1500"* && $link == *UP* ]] || fail "$dev is not up with MTU 1500: '$link'"
done
# The configured route, in the kernel on TAP lan0 and nowhere else.
routes=$(ip -n "$(ns_name lb)" -4 route show "$FAR_NET" 2>/dev/null || true)
[[ $routes == *"via $ROUTER_LAN dev lan0 proto static"* && $(wc -l <<<"$routes") -eq 1 ]] ||
  fail "lb's kernel route to $FAR_NET: '$routes'"
grep -q "dataplane.routes" "$WORK/dplbd.log" && fail "dplbd: $(grep 'dataplane.routes' "$WORK/dplbd.log")"
[[ $FAILS -eq 0 ]] || exit 1

# ---------------------------------------------------------------- host -> real server
# Bounded start-up: the first try also resolves ARP both ways.
ok=0
for ((try = 0; try < 40; try++)); do
  if body=$(ns_exec lb curl -sS --connect-timeout 1 --max-time 2 "http://$RS:8080/whoami" 2>&1) &&
    [[ $body == rs1 ]]; then
    ok=1
    break
  fi
  sleep 0.2
done
[[ $ok -eq 1 ]] || fail "curl from the dplb namespace to $RS:8080 failed: $body"
grep -q "^$LAN_ADDR " "$WORK/rs1.http.log" ||
  fail "the real server did not see the host's request come from $LAN_ADDR"

# ---------------------------------------------------------------- host -> behind the router
# Through the configured route: TAP lan0, dplbd's port, the gateway 10.0.1.254.
ok=0
for ((try = 0; try < 40; try++)); do
  if body=$(ns_exec lb curl -sS --connect-timeout 1 --max-time 2 "http://$FAR:8080/whoami" 2>&1) &&
    [[ $body == far ]]; then
    ok=1
    break
  fi
  sleep 0.2
done
[[ $ok -eq 1 ]] || fail "curl from the dplb namespace to $FAR:8080 (via $ROUTER_LAN) failed: $body"
grep -q "^$LAN_ADDR " "$WORK/far.http.log" ||
  fail "the server behind the router did not see the host's request come from $LAN_ADDR"
rt_mac=$(ip -n "$(ns_name rt)" -o link show dev eth0 | grep -oE 'link/ether [0-9a-f:]+' | cut -d' ' -f2)
gw_neigh=$(ip -n "$(ns_name lb)" neigh show "$ROUTER_LAN" dev lan0 2>/dev/null || true)
[[ $gw_neigh == *"lladdr $rt_mac"* ]] ||
  fail "lb's kernel did not resolve the gateway $ROUTER_LAN ($rt_mac) on lan0: '$gw_neigh'"

# ---------------------------------------------------------------- ping
ns_exec cl ping -c 3 -i 0.2 -W 2 "$WAN_ADDR" >"$WORK/ping-local.out" 2>&1 ||
  fail "ping $WAN_ADDR from the client failed"
ns_exec cl ping -c 3 -i 0.2 -W 2 "$VIP" >"$WORK/ping-vip.out" 2>&1 ||
  fail "ping $VIP from the client failed"
grep -q "DUP" "$WORK/ping-local.out" "$WORK/ping-vip.out" && fail "duplicate echo replies"

# ---------------------------------------------------------------- client -> host
ns_bg lb "$WORK/host.http.log" "$PY" -u -m http.server 8081 --bind "$WAN_ADDR" \
  --directory "$WORK/www" >/dev/null
ns_wait_tcp lb "$WAN_ADDR" 8081 100
body=$(ns_exec cl curl -sS --connect-timeout 2 --max-time 3 "http://$WAN_ADDR:8081/whoami" 2>&1) ||
  true
[[ $body == rs1 ]] || fail "client -> host $WAN_ADDR:8081 failed: $body"

# ---------------------------------------------------------------- both at once
# The host's requests to the real server and clients' requests through the VIP.
# shellcheck disable=SC2016
ns_exec lb bash -c 'ok=0; for ((i = 0; i < 20; i++)); do
    [[ $(curl -sS --connect-timeout 2 --max-time 3 "http://$1:8080/whoami") == rs1 ]] && ok=$((ok + 1))
  done; echo "$ok"' _ "$RS" >"$WORK/host-loop.out" 2>&1 &
host_loop=$!
vip_ok=0
for ((i = 0; i < 20; i++)); do
  if [[ $(ns_exec cl curl -sS --connect-timeout 2 --max-time 3 "http://$VIP/whoami" 2>/dev/null) == rs1 ]]; then
    vip_ok=$((vip_ok + 1))
  fi
done
wait "$host_loop" || true
[[ $vip_ok -eq 20 ]] || fail "HTTP through the VIP: $vip_ok of 20 answered"
[[ $(tail -n1 "$WORK/host-loop.out") == 20 ]] ||
  fail "host -> real server while the VIP is busy: $(tail -n1 "$WORK/host-loop.out") of 20"

ns_stop "$DPLBD_PID" 100 || fail "dplbd did not stop cleanly (status $?)"
DPLBD_PID=""
# The TAPs go with dplbd.
ip -n "$(ns_name lb)" link show dev wan0 >/dev/null 2>&1 && fail "TAP wan0 still exists"

if [[ $FAILS -ne 0 ]]; then
  echo "exception e2e: $FAILS failure(s)" >&2
  exit 1
fi
echo "exception e2e: host curl through the TAP (direct and via the configured route), ping of port address and VIP, client -> host TCP, VIP HTTP alongside: all passed"
