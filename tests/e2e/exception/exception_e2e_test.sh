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
# shellcheck source=SCRIPTDIR/../lib/dplbd.sh
source "$HERE/../lib/dplbd.sh"

e2e_init exc "${1:?usage: $0 /path/to/dplbd}"
e2e_need ping
e2e_need_tun

readonly CLIENT=10.0.0.5
readonly WAN_ADDR=10.0.0.2
readonly VIP=10.0.0.100
readonly LAN_ADDR=10.0.1.2
readonly RS=10.0.1.11
readonly ROUTER_LAN=10.0.1.254
readonly ROUTER_FAR=10.0.2.1
readonly FAR_NET=10.0.2.0/24
readonly FAR=10.0.2.11

for f in rs1.http.log far.http.log host.http.log ping-local.out ping-vip.out host-loop.out; do
  e2e_diag_file "$WORK/$f"
done
e2e_diag_ns cl lb rs1 rt far

# ---------------------------------------------------------------- topology
ns_add_all cl lb sw rs1 rt far
e2e_two_arm_topology "$CLIENT" "$LAN_ADDR" "$RS"
ns_link rt eth0 sw swrt
ns_bridge sw br0 swrt
ns_link rt eth1 far eth0
ns_dpdk_owned lb lbwan lblan
ns_addr rt eth0 "$ROUTER_LAN/24"
ns_addr rt eth1 "$ROUTER_FAR/24"
ns_exec rt sysctl -qw net.ipv4.ip_forward=1
ns_addr far eth0 "$FAR/24"
ip -n "$(ns_name far)" route add default via "$ROUTER_FAR"

http_whoami_server rs1 8080
http_whoami_server far 8080

# ---------------------------------------------------------------- dplbd
{
  dplbd_yaml_dataplane --exception-path "wan0=lbwan:$WAN_ADDR/24" "lan0=lblan:$LAN_ADDR/24"
  echo "  routes:"
  echo "    - { prefix: $FAR_NET, via: $ROUTER_LAN }"
  echo "  reassembly: { max_flows: 64 }"
  echo "services:"
  dplbd_yaml_service web "$VIP" 80 tcp rr nat 8080 "$RS"
  dplbd_yaml_tail
} >"$WORK/dplb.yaml"
dplbd_start "$WORK/dplb.yaml"
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
# host_gets URL BODY: a GET from the lb namespace answers BODY (the answer
# is left in $body).
host_gets() {
  body=$(ns_exec lb curl -sS --connect-timeout 1 --max-time 2 "$1" 2>&1) && [[ $body == "$2" ]]
}
# Bounded start-up: the first try also resolves ARP both ways.
ns_poll 40 0.2 host_gets "http://$RS:8080/whoami" rs1 ||
  fail "curl from the dplb namespace to $RS:8080 failed: $body"
grep -q "^$LAN_ADDR " "$WORK/rs1.http.log" ||
  fail "the real server did not see the host's request come from $LAN_ADDR"

# ---------------------------------------------------------------- host -> behind the router
# Through the configured route: TAP lan0, dplbd's port, the gateway 10.0.1.254.
ns_poll 40 0.2 host_gets "http://$FAR:8080/whoami" far ||
  fail "curl from the dplb namespace to $FAR:8080 (via $ROUTER_LAN) failed: $body"
grep -q "^$LAN_ADDR " "$WORK/far.http.log" ||
  fail "the server behind the router did not see the host's request come from $LAN_ADDR"
rt_mac=$(mac_of rt eth0)
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
  --directory "$WORK/www/rs1" >/dev/null
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

dplbd_stop
# The TAPs go with dplbd.
ip -n "$(ns_name lb)" link show dev wan0 >/dev/null 2>&1 && fail "TAP wan0 still exists"

[[ $FAILS -ne 0 ]] || echo "exception e2e: host curl through the TAP (direct and via the configured route), ping of port address and VIP, client -> host TCP, VIP HTTP alongside: all passed"
e2e_finish
