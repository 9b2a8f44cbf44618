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
# shellcheck source=SCRIPTDIR/../lib/netns.sh
source "$HERE/../lib/netns.sh"
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
for ns in cl lb rt sw rs1 rs2 rs3; do
  ns_add "$ns"
  ns_no_ipv6 "$ns"
done
ns_link cl eth0 sw swcl
ns_link lb wan0 sw swlbw
ns_link rt eth0 sw swrt0
ns_link lb lan0 sw swlbl
ns_link rt eth1 sw swrt1
for i in 1 2 3; do
  ns_link "rs$i" eth0 sw "swrs$i"
done
ns_bridge sw br0 swcl swlbw swrt0
ns_bridge sw br1 swlbl swrt1 swrs1 swrs2 swrs3

ns_exec lb sysctl -qw net.ipv4.ip_forward=0
ns_exec rt sysctl -qw net.ipv4.ip_forward=1
ns_exec cl sysctl -qw net.ipv4.ip_default_ttl=$CLIENT_TTL
ns_addr cl eth0 "$CLIENT/24"
ip -n "$(ns_name cl)" route add default via "$RT_CLIENT_SIDE"
ns_addr rt eth0 "$RT_CLIENT_SIDE/24"
ns_addr rt eth1 "$RT_SERVER_SIDE/24"
for i in 1 2 3; do
  ns_addr "rs$i" eth0 "${RS_ADDR[i - 1]}/24"
  ip -n "$(ns_name "rs$i")" route add default via "$RT_SERVER_SIDE"
done
for dev in wan0 lan0; do
  [[ -z $(ip -n "$(ns_name lb)" -4 -o addr show dev "$dev") ]] || fail "$dev has a kernel address"
done
[[ $FAILS -eq 0 ]] || exit 1

# ---------------------------------------------------------------- servers
for i in 1 2 3; do
  tun_rs_decap "rs$i" "$WORK/rs$i.decap.log" "$VIP"
  mkdir -p "$WORK/www/rs$i"
  printf 'rs%s' "$i" >"$WORK/www/rs$i/whoami"
  ns_bg "rs$i" "$WORK/rs$i.http.log" \
    "$PY" -u -m http.server 80 --bind 0.0.0.0 --directory "$WORK/www/rs$i" >/dev/null
  # Bound to the VIP, so that its answers leave from the VIP (an unbound
  # socket would answer from eth0's address, the route's preferred source).
  ns_bg "rs$i" "$WORK/rs$i.udp.log" "$PY" -u -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[2], 53))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(65535)
    print(peer[0], peer[1], len(data), flush=True)
    s.sendto(("%s %s:%d " % (sys.argv[1], peer[0], peer[1])).encode() + data, peer)
' "rs$i" "$VIP" >/dev/null
done
for i in 1 2 3; do
  ns_wait_tcp "rs$i" 127.0.0.1 80 100
  ns_wait_file "$WORK/rs$i.udp.log" '^ready$' 100
done

# ---------------------------------------------------------------- dplbd
rs_list() {
  for i in 0 1 2; do
    echo "      - { address: ${RS_ADDR[i]} }"
  done
}
cat >"$WORK/dplb.yaml" <<EOF
dataplane:
  lcores: "0-1"
  eal_args: ["--no-huge", "-m", "256", "--no-pci", "--file-prefix=$EAL_PREFIX"]
  idle_sleep: 50us
  exception_path: false
  ports:
    - name: wan0
      device: "net_af_packet0,iface=wan0"
      addresses: [$WAN_ADDR/24]
    - name: lan0
      device: "net_af_packet1,iface=lan0"
      addresses: [$LAN_ADDR/24]
  conn_table: { capacity: 4096 }
services:
  - name: web
    vip: $VIP
    port: 80
    protocol: tcp
    scheduler: rr
    forward: tun
    real_servers:
$(rs_list)
  - name: echo
    vip: $VIP
    port: 53
    protocol: udp
    scheduler: rr
    forward: tun
    real_servers:
$(rs_list)
admin: { socket: $DPLB_SOCK }
metrics: { listen: "" }
logging: { level: info }
EOF
dplbd_start "$WORK/dplb.yaml"

probe() {
  ns_exec cl curl -sf --connect-timeout 1 --max-time 2 -o /dev/null "http://$VIP/whoami?probe"
}
dplbd_wait_until 50 probe || {
  echo "no answer through $VIP:80" >&2
  exit 1
}
echo "dplbd forwards through $VIP"

ns_bg cl "$WORK/tcpdump-cl.log" tcpdump -n -U --immediate-mode -i eth0 -w "$WORK/cl.pcap" \
  "src host $VIP" >/dev/null
TCPDUMP_PID=$!
ns_wait_file "$WORK/tcpdump-cl.log" 'listening' 50

# ---------------------------------------------------------------- HTTP
# shellcheck disable=SC2016 # the loop's variables expand in the client's shell
ns_exec cl bash -c '
  vip=$1 n=$2 base=$3 failures=0
  for ((i = 0; i < n; i++)); do
    if out=$(curl -sS --connect-timeout 2 --max-time 3 --local-port $((base + i)) \
        -w " %{http_code} %{remote_ip}:%{remote_port}" "http://$vip/whoami?n=$i" 2>&1); then
      echo "$i $out"
    else
      echo "$i FAIL $?" $out # unquoted: one line
      if ((++failures >= 3)); then
        break
      fi
    fi
  done' _ "$VIP" "$REQUESTS" "$PORT_BASE" >"$WORK/http.out"

declare -A count=([rs1]=0 [rs2]=0 [rs3]=0)
ok=0
order=()
while read -r n body code remote rest; do
  if [[ $body =~ ^rs[123]$ && $code == 200 && $remote == "$VIP:80" && -z ${rest:-} ]]; then
    ok=$((ok + 1))
    count[$body]=$((count[$body] + 1))
    order[n]=$body
  else
    fail "request $n: $body $code $remote ${rest:-}"
  fi
done <"$WORK/http.out"
[[ $ok -eq $REQUESTS ]] || fail "$ok of $REQUESTS requests answered"
echo "HTTP: $ok/$REQUESTS answered; rs1=${count[rs1]} rs2=${count[rs2]} rs3=${count[rs3]}"
if [[ $ok -eq $REQUESTS ]]; then
  for ((c = 0; c < REQUESTS / 3; c++)); do
    got=$(printf '%s\n' "${order[@]:c*3:3}" | sort | tr '\n' ' ')
    [[ $got == "rs1 rs2 rs3 " ]] || fail "rr round $c: $got"
  done
fi
for i in 1 2 3; do
  logged=$(grep -E '"GET /whoami\?n=[0-9]+ HTTP/1\.1" 200' "$WORK/rs$i.http.log" || true)
  total=$(grep -c . <<<"$logged" || true)
  from_client=$(grep -cE "^${CLIENT//./\\.} - - " <<<"$logged" || true)
  [[ $total -eq ${count[rs$i]} && $from_client -eq $total ]] ||
    fail "rs$i log: $total requests, $from_client from $CLIENT; expected ${count[rs$i]}, all from $CLIENT"
done

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
  min=$((4 * ${count[rs$i]}))
  [[ $total -ge $min && $good -eq $total && -z $bad ]] ||
    fail "rs$i: $good of $total tunnel packets as expected (want >= $min, all good);" \
      "first other: $(grep -vE "^ipip outer src=$LAN_ADDR dst=${RS_ADDR[i - 1]} ttl=$((CLIENT_TTL - 1)) .* csum=ok inner .* csum=ok$" "$log" | head -n 2)"
  echo "rs$i: $good tunnel packets, outer src $LAN_ADDR dst ${RS_ADDR[i - 1]} ttl $((CLIENT_TTL - 1))"
done

# ---------------------------------------------------------------- replies bypass dplbd
min_replies=$((3 * REQUESTS + ${#UDP_CASES[@]}))
captured() { tcpdump -n -r "$WORK/cl.pcap" 2>/dev/null | wc -l; }
for ((try = 0; try < 50; try++)); do
  [[ $(captured) -ge $min_replies ]] && break
  sleep 0.1
done
ns_stop "$TCPDUMP_PID" 50 || true
rt_mac=$(mac_of rt eth0)
lb_mac=$(mac_of lb wan0)
neigh=$(ip -n "$(ns_name cl)" neigh show "$VIP" dev eth0 | grep -oE 'lladdr [0-9a-f:]+' | cut -d' ' -f2 || true)
[[ $neigh == "$lb_mac" ]] || fail "client's neighbour entry for $VIP is '$neigh', not dplbd's $lb_mac"
replies=0
while read -r mac; do
  if [[ $mac == "$rt_mac" ]]; then
    replies=$((replies + 1))
  else
    fail "a packet from $VIP reached the client from MAC $mac, not the router's $rt_mac"
  fi
done < <(tcpdump -n -e -r "$WORK/cl.pcap" 2>/dev/null | awk '{print $2}')
[[ $replies -ge $min_replies ]] ||
  fail "client captured $replies packets from $VIP via the router, expected at least $min_replies"
echo "client: $replies packets from $VIP, all via the router ($rt_mac; dplbd's is $lb_mac)"

dplbadm -L -n --stats --exact >"$WORK/stats.txt"
cat "$WORK/stats.txt"
read -r _ _ conns inpkts outpkts _ < <(grep -E "^TCP +$VIP:80 " "$WORK/stats.txt") || true
[[ ${conns:-0} -ge $REQUESTS && ${inpkts:-0} -ge $((4 * REQUESTS)) && ${outpkts:-x} == 0 ]] ||
  fail "web counters: Conns ${conns:-?} InPkts ${inpkts:-?} OutPkts ${outpkts:-?};" \
    "expected Conns >= $REQUESTS, InPkts >= $((4 * REQUESTS)), OutPkts 0"
read -r _ _ conns inpkts outpkts _ < <(grep -E "^UDP +$VIP:53 " "$WORK/stats.txt") || true
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
