#!/usr/bin/env bash
# End-to-end DR (direct routing) test: real kernels around dplbd, in namespaces.
#
#   usage: dr_e2e_test.sh /path/to/dplbd /path/to/dplbadm   (root; exit 77 = skipped)
#
#   cl (client)          eth0 10.0.0.5/24 ----------+
#   lb (dplbd)           lan0 [port 10.0.0.2/24] ---+-- sw: br0 (one L2 segment)
#                             [VIP 10.0.0.100]      |
#   rs1..rs3             eth0 10.0.0.1x/24 ---------+
#                        lo   10.0.0.100/32 (the VIP), arp_ignore=1, arp_announce=2
#
# dplbd's port is the only thing that answers ARP for the VIP (the servers
# hold it on lo and ignore ARP for it), so the client sends to dplbd, which
# rewrites only the Ethernet addresses (and the TTL) and passes the frame to a
# server. The server answers from the VIP straight to the client on the
# shared segment: dplbd never sees a reply.
#
# Service: web  tcp VIP:80 -> rs1..rs3:80  wrr 3,2,1  (python http.server)
#
# Checks: every request answered with the VIP as the peer; the split is
# exactly 3:2:1 in every 6 consecutive requests (one worker: wrr is periodic,
# any window of one period holds each server its weight's times); the
# servers log the client's own address; the client's neighbour entry for the
# VIP is dplbd's MAC, yet every reply frame it captured came from a real
# server's MAC; dplbadm's counters show the service's and every server's
# OutPkts 0 with InPkts > 0; dplbd stops with exit 0.


set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/dplbd.sh
source "$HERE/../lib/dplbd.sh"

e2e_init dr "${1:-}" "${2:?usage: $0 /path/to/dplbd /path/to/dplbadm}"

readonly CLIENT=10.0.0.5
readonly LB_ADDR=10.0.0.2
readonly VIP=10.0.0.100
readonly RS_ADDR=(10.0.0.11 10.0.0.12 10.0.0.13)
readonly RS_WEIGHT=(3 2 1)
readonly REQUESTS=60 # 10 periods of wrr 3,2,1
readonly PORT_BASE=20000

e2e_diag_file "$WORK/http.out" "$WORK/rs1.http.log" "$WORK/rs2.http.log" "$WORK/rs3.http.log"
e2e_diag_ns cl lb rs1

# ---------------------------------------------------------------- topology
ns_add_all cl lb sw rs1 rs2 rs3
ns_link cl eth0 sw swcl
ns_link lb lan0 sw swlb
ns_bridge sw br0 swcl swlb
e2e_servers_behind sw br0 "" "${RS_ADDR[@]}"

ns_exec lb sysctl -qw net.ipv4.ip_forward=0
ns_addr cl eth0 "$CLIENT/24"
for i in 1 2 3; do
  rs=rs$i
  ns_addr "$rs" lo "$VIP/32"
  # The VIP on lo must not be announced: answer ARP only for addresses of the
  # receiving interface (arp_ignore=1), and source our own ARP requests from
  # eth0's address, never the VIP (arp_announce=2). Reverse-path filtering
  # off, stated here rather than inherited: the client's packets arrive on
  # eth0 for an address of lo.
  ns_exec "$rs" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.eth0.arp_ignore=1 \
    net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.eth0.arp_announce=2 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0 net.ipv4.conf.lo.rp_filter=0
done
e2e_expect_no_kernel_addr lb lan0
[[ $FAILS -eq 0 ]] || exit 1

# ---------------------------------------------------------------- servers
for i in 1 2 3; do
  http_whoami_server "rs$i" 80
done

# ---------------------------------------------------------------- dplbd
{
  dplbd_yaml_dataplane "lan0=lan0:$LB_ADDR/24"
  echo "services:"
  dplbd_yaml_service web "$VIP" 80 tcp wrr dr - \
    "${RS_ADDR[0]}:${RS_WEIGHT[0]}" "${RS_ADDR[1]}:${RS_WEIGHT[1]}" "${RS_ADDR[2]}:${RS_WEIGHT[2]}"
  dplbd_yaml_tail
} >"$WORK/dplb.yaml"
dplbd_start "$WORK/dplb.yaml"
dplbd_wait_http 50 "http://$VIP/whoami?probe"
echo "dplbd forwards through $VIP"

# Every frame from VIP:80 that reaches the client, with its Ethernet header.
pcap_start "$WORK/cl.pcap" "tcp and src host $VIP and src port 80"

# ---------------------------------------------------------------- requests
# One curl per request from its own source port (a new connection each).
http_request_loop "$VIP" "$REQUESTS" "$PORT_BASE" >"$WORK/http.out"
http_tally "$WORK/http.out" "$VIP:80" "$REQUESTS"
http_check_windows "$REQUESTS" "${RS_WEIGHT[@]}"
# The servers saw the client's own address (DR changes no IP address) and
# each logged exactly the requests whose answers carried its name.
http_check_server_logs "$CLIENT"

# ---------------------------------------------------------------- replies bypass dplbd
# Every request has at least a SYN-ACK, the response and a FIN from the
# server. Wait (bounded) until the capture holds that many, then stop it.
min_replies=$((3 * REQUESTS))
pcap_wait_stop "$WORK/cl.pcap" "$min_replies"
rs_macs=()
for i in 1 2 3; do
  rs_macs+=("$(mac_of "rs$i" eth0)")
done
replies_bypass_lb "$VIP" "$(mac_of lb lan0)" "$WORK/cl.pcap" "$min_replies" "${rs_macs[@]}"

# dplbd's own counters: it carried the requests (InPkts) and no reply.
dplbadm -L -n --stats --exact >"$WORK/stats.txt"
cat "$WORK/stats.txt"
expect_one_way "$WORK/stats.txt" "^TCP +$VIP:80 " service "$REQUESTS" $((4 * REQUESTS))
for i in 1 2 3; do
  expect_one_way "$WORK/stats.txt" "^ +-> ${RS_ADDR[i - 1]}:80 " "rs$i" "${HTTP_COUNT[rs$i]}" 1
done

# ---------------------------------------------------------------- stop
dplbd_stop
e2e_finish
