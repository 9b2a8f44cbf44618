#!/usr/bin/env bash
# End-to-end TUN (IP-in-IP) test: real kernels around dplbd, in namespaces.
#
#   usage: tun_e2e_test.sh /path/to/dplbd /path/to/dplbadm   (root; exit 77 = skipped)
#
#   cl    eth0 10.0.0.5/24, default via rt ---+
#   lb    wan0 [port 10.0.0.2/24] ------------+-- sw: br0 (client network)
#         [VIP 10.0.0.100]                    |
#   rt    eth0 10.0.0.1/24 -------------------+
#   rt    eth1 10.0.1.1/24 -------------------+
#   lb    lan0 [port 10.0.1.2/24] ------------+-- sw: br1 (server network)
#   rs1..rs3  eth0 10.0.1.1x/24, default via rt
#             tun0 10.0.0.100/32 (the VIP), fed by ipip_decap.py
#
# The real servers are on another network than the VIP. dplbd encapsulates
# the client's packet (outer source = lan0's address, the egress port's;
# outer destination = the server); this kernel has no ipip module, so the
# server's tunnel end is ../lib/ipip_decap.py: a raw socket for protocol 4
# that writes the inner packet into tun0. The server answers from the VIP
# through the router, never through dplbd.
#
# Services:
#   web   tcp VIP:80 -> rs1..rs3:80  rr   python http.server
#   echo  udp VIP:53 -> rs1..rs3:53  rr   UDP echo bound to the VIP
#
# Checks: every HTTP request answered with the VIP as the peer, split exactly
# rr; the servers log the client's address; every tunnelled packet's outer
# header (as the decapsulator saw it) has source 10.0.1.2 (not wan0's
# address), destination the server, protocol 4, a valid checksum, TTL = the
# inner TTL = the client's TTL - 1, and the inner packet's TOS and DF
# (issue 5 item 2); three UDP datagrams with distinct TOS bytes (DSCP + each
# ECN codepoint, CE included: RFC 6040 normal mode) and DF on and off come
# back from VIP:53 and had exactly those in their outer headers; replies
# reach the client from the router's MAC and dplbadm shows OutPkts 0.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/dplbd.sh
source "$HERE/../lib/dplbd.sh"

e2e_init tun "${1:-}" "${2:?usage: $0 /path/to/dplbd /path/to/dplbadm}"

readonly CLIENT=10.0.0.5
readonly WAN_ADDR=10.0.0.2
readonly VIP=10.0.0.100
readonly RT_CLIENT_SIDE=10.0.0.1
readonly RT_SERVER_SIDE=10.0.1.1
readonly LAN_ADDR=10.0.1.2
readonly RS_ADDR=(10.0.1.11 10.0.1.12 10.0.1.13)
readonly REQUESTS=30 # 10 rr rounds
readonly PORT_BASE=20000
readonly UDP_PORT_BASE=21000
readonly CLIENT_TTL=64

for i in 1 2 3; do
  e2e_diag_file "$WORK/rs$i.decap.log" "$WORK/rs$i.http.log" "$WORK/rs$i.udp.log"
done
e2e_diag_file "$WORK/http.out" "$WORK/udp.out"
e2e_diag_ns cl lb rt rs1

# ---------------------------------------------------------------- topology
ns_add_all cl lb rt sw rs1 rs2 rs3
e2e_routed_topology "$CLIENT" "$RT_CLIENT_SIDE" "$RT_SERVER_SIDE"
e2e_servers_behind sw br1 "$RT_SERVER_SIDE" "${RS_ADDR[@]}"
ns_exec cl sysctl -qw net.ipv4.ip_default_ttl=$CLIENT_TTL
e2e_expect_no_kernel_addr lb wan0 lan0
[[ $FAILS -eq 0 ]] || exit 1

# ---------------------------------------------------------------- servers
for i in 1 2 3; do
  tun_rs_decap "rs$i" "$WORK/rs$i.decap.log" "$VIP"
  http_whoami_server "rs$i" 80
  # Bound to the VIP, so that its answers leave from the VIP (an unbound
  # socket would answer from eth0's address, the route's preferred source).
  udp_echo_server "rs$i" "$VIP" 53
done

# ---------------------------------------------------------------- dplbd
{
  dplbd_yaml_dataplane "wan0=wan0:$WAN_ADDR/24" "lan0=lan0:$LAN_ADDR/24"
  echo "services:"
  dplbd_yaml_service web "$VIP" 80 tcp rr tun - "${RS_ADDR[@]}"
  dplbd_yaml_service echo "$VIP" 53 udp rr tun - "${RS_ADDR[@]}"
  dplbd_yaml_tail
} >"$WORK/dplb.yaml"
dplbd_start "$WORK/dplb.yaml"
dplbd_wait_http 50 "http://$VIP/whoami?probe"
echo "dplbd forwards through $VIP"

pcap_start "$WORK/cl.pcap" "src host $VIP"

# ---------------------------------------------------------------- HTTP
http_request_loop "$VIP" "$REQUESTS" "$PORT_BASE" >"$WORK/http.out"
http_tally "$WORK/http.out" "$VIP:80" "$REQUESTS"
http_check_windows "$REQUESTS" 1 1 1
http_check_server_logs "$CLIENT"
# ---------------------------------------------------------------- UDP: TOS, ECN, DF
# "<tos> <df>" per datagram; each from its own source port (rr: one per server).
readonly UDP_CASES=("0xb9 1" "0x28 0" "0x03 1")
# shellcheck disable=SC2016
ns_exec cl "$PY" -c '
import socket, sys
IP_MTU_DISCOVER, IP_PMTUDISC_DONT, IP_PMTUDISC_DO = 10, 0, 2
vip, client, base = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i, case in enumerate(sys.argv[4:]):
    tos, df = case.split()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((client, base + i))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, int(tos, 16))
    s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO if df == "1" else IP_PMTUDISC_DONT)
    s.settimeout(3)
    s.sendto(b"tos %s df %s" % (tos.encode(), df.encode()), (vip, 53))
    try:
        data, src = s.recvfrom(2048)
        print(i, src[0], src[1], data.decode(errors="replace"), flush=True)
    except socket.timeout:
        print(i, "TIMEOUT", flush=True)
' "$VIP" "$CLIENT" "$UDP_PORT_BASE" "${UDP_CASES[@]}" >"$WORK/udp.out"

udp_ok=0
while read -r n src sport name peer payload; do
  read -r tos df <<<"${UDP_CASES[n]}"
  if [[ $src == "$VIP" && $sport == 53 && $name =~ ^rs[123]$ &&
    $peer == "$CLIENT:$((UDP_PORT_BASE + n))" && $payload == "tos $tos df $df" ]]; then
    udp_ok=$((udp_ok + 1))
    # The datagram's tunnel packet, as the server's decapsulator saw it.
    line=$(grep -E "inner src=$CLIENT dst=$VIP ttl=[0-9]+ tos=$tos df=$df proto=17 " \
      "$WORK/$name.decap.log" || true)
    rs_addr=${RS_ADDR[${name#rs} - 1]}
    want="^ipip outer src=$LAN_ADDR dst=$rs_addr ttl=$((CLIENT_TTL - 1)) tos=$tos df=$df mf=0 id=[0-9]+ len=[0-9]+ csum=ok inner src=$CLIENT dst=$VIP ttl=$((CLIENT_TTL - 1)) tos=$tos df=$df proto=17 len=[0-9]+ csum=ok$"
    [[ $(grep -c . <<<"$line") -eq 1 && $line =~ $want ]] ||
      fail "UDP datagram $n (tos $tos, df $df) at $name: tunnel header '$line', expected /$want/"
  else
    fail "UDP datagram $n: $src ${sport:-} ${name:-} ${peer:-} ${payload:-}"
  fi
done <"$WORK/udp.out"
[[ $udp_ok -eq ${#UDP_CASES[@]} ]] || fail "UDP: $udp_ok of ${#UDP_CASES[@]} datagrams answered"
echo "UDP: $udp_ok/${#UDP_CASES[@]} answered from $VIP:53, outer TOS/DF/TTL as the inner's"

# ---------------------------------------------------------------- every tunnel header
# Issue 5 item 2: outer source = a local address of the egress port (lan0,
# not wan0 where the packet came in), destination = the server, TTL = the
# inner's decremented TTL, TOS and DF = the inner's.
for i in 1 2 3; do
  log="$WORK/rs$i.decap.log"
  total=$(grep -c '^ipip ' "$log" || true)
  good=$(grep -cE "^ipip outer src=$LAN_ADDR dst=${RS_ADDR[i - 1]} ttl=$((CLIENT_TTL - 1)) tos=(0x[0-9a-f]+) df=([01]) mf=0 id=[0-9]+ len=[0-9]+ csum=ok inner src=$CLIENT dst=$VIP ttl=$((CLIENT_TTL - 1)) tos=\1 df=\2 proto=(6|17) len=[0-9]+ csum=ok$" "$log" || true)
  bad=$(grep -vE '^(ready tun0|ipip .*)$' "$log" || true)
  # At least SYN, ACK, request and FIN of each request it answered.
  min=$((4 * ${HTTP_COUNT[rs$i]}))
  [[ $total -ge $min && $good -eq $total && -z $bad ]] ||
    fail "rs$i: $good of $total tunnel packets as expected (want >= $min, all good);" \
      "first other: $(grep -vE "^ipip outer src=$LAN_ADDR dst=${RS_ADDR[i - 1]} ttl=$((CLIENT_TTL - 1)) .* csum=ok inner .* csum=ok$" "$log" | head -n 2)"
  echo "rs$i: $good tunnel packets, outer src $LAN_ADDR dst ${RS_ADDR[i - 1]} ttl $((CLIENT_TTL - 1))"
done

# ---------------------------------------------------------------- replies bypass dplbd
min_replies=$((3 * REQUESTS + ${#UDP_CASES[@]}))
pcap_wait_stop "$WORK/cl.pcap" "$min_replies"
replies_bypass_lb "$VIP" "$(mac_of lb wan0)" "$WORK/cl.pcap" "$min_replies" "$(mac_of rt eth0)"

dplbadm -L -n --stats --exact >"$WORK/stats.txt"
cat "$WORK/stats.txt"
expect_one_way "$WORK/stats.txt" "^TCP +$VIP:80 " web "$REQUESTS" $((4 * REQUESTS))
read -r conns inpkts outpkts < <(stats_counters "$WORK/stats.txt" "^UDP +$VIP:53 ") || true
[[ ${conns:-0} -eq ${#UDP_CASES[@]} && ${inpkts:-0} -eq ${#UDP_CASES[@]} && ${outpkts:-x} == 0 ]] ||
  fail "echo counters: Conns ${conns:-?} InPkts ${inpkts:-?} OutPkts ${outpkts:-?};" \
    "expected ${#UDP_CASES[@]} ${#UDP_CASES[@]} 0"

dplbadm --status | sed -n '/^drops:/,/^port/p'
for i in 1 2 3; do
  echo "rs$i: $(ns_exec "rs$i" nstat -az IcmpOutDestUnreachs IpInUnknownProtos | grep -v '^#' | awk '{printf "%s %s ", $1, $2}')"
done

# ---------------------------------------------------------------- stop
dplbd_stop
e2e_finish
