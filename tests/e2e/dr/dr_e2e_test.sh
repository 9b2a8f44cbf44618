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
# shellcheck source=SCRIPTDIR/../lib/netns.sh
source "$HERE/../lib/netns.sh"
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
for ns in cl lb sw rs1 rs2 rs3; do
  ns_add "$ns"
  ns_no_ipv6 "$ns"
done
ns_link cl eth0 sw swcl
ns_link lb lan0 sw swlb
for i in 1 2 3; do
  ns_link "rs$i" eth0 sw "swrs$i"
done
ns_bridge sw br0 swcl swlb swrs1 swrs2 swrs3

ns_exec lb sysctl -qw net.ipv4.ip_forward=0
ns_addr cl eth0 "$CLIENT/24"
for i in 1 2 3; do
  rs=rs$i
  ns_addr "$rs" eth0 "${RS_ADDR[i - 1]}/24"
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
[[ -z $(ip -n "$(ns_name lb)" -4 -o addr show dev lan0) ]] || fail "lan0 has a kernel address"
[[ $FAILS -eq 0 ]] || exit 1

# ---------------------------------------------------------------- servers
for i in 1 2 3; do
  mkdir -p "$WORK/www/rs$i"
  printf 'rs%s' "$i" >"$WORK/www/rs$i/whoami"
  ns_bg "rs$i" "$WORK/rs$i.http.log" \
    "$PY" -u -m http.server 80 --bind 0.0.0.0 --directory "$WORK/www/rs$i" >/dev/null
done
for i in 1 2 3; do
  ns_wait_tcp "rs$i" 127.0.0.1 80 100
done

# ---------------------------------------------------------------- dplbd
cat >"$WORK/dplb.yaml" <<EOF
dataplane:
  lcores: "0-1"
  eal_args: ["--no-huge", "-m", "256", "--no-pci", "--file-prefix=$EAL_PREFIX"]
  idle_sleep: 50us
  exception_path: false
  ports:
    - name: lan0
      device: "net_af_packet0,iface=lan0"
      addresses: [$LB_ADDR/24]
  conn_table: { capacity: 4096 }
services:
  - name: web
    vip: $VIP
    port: 80
    protocol: tcp
    scheduler: wrr
    forward: dr
    real_servers:
      - { address: ${RS_ADDR[0]}, weight: ${RS_WEIGHT[0]} }
      - { address: ${RS_ADDR[1]}, weight: ${RS_WEIGHT[1]} }
      - { address: ${RS_ADDR[2]}, weight: ${RS_WEIGHT[2]} }
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

# Every frame from VIP:80 that reaches the client, with its Ethernet header.
ns_bg cl "$WORK/tcpdump-cl.log" tcpdump -n -U --immediate-mode -i eth0 -w "$WORK/cl.pcap" \
  "tcp and src host $VIP and src port 80" >/dev/null
TCPDUMP_PID=$!
ns_wait_file "$WORK/tcpdump-cl.log" 'listening' 50

# ---------------------------------------------------------------- requests
# One curl per request from its own source port (a new connection each).
# Output: "<n> <body> <code> <remote>" or "<n> FAIL <curl rc>".
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
declare -A answered=()
ok=0
order=()
while read -r n body code remote rest; do
  if [[ $body =~ ^rs[123]$ && $code == 200 && $remote == "$VIP:80" && -z ${rest:-} ]]; then
    ok=$((ok + 1))
    count[$body]=$((count[$body] + 1))
    answered[$body]+=" $n"
    order[n]=$body
  else
    fail "request $n: $body $code $remote ${rest:-}"
  fi
done <"$WORK/http.out"
[[ $ok -eq $REQUESTS ]] || fail "$ok of $REQUESTS requests answered"
echo "HTTP: $ok/$REQUESTS answered; rs1=${count[rs1]} rs2=${count[rs2]} rs3=${count[rs3]}"

period=$((RS_WEIGHT[0] + RS_WEIGHT[1] + RS_WEIGHT[2]))
if [[ $ok -eq $REQUESTS ]]; then
  for ((c = 0; c < REQUESTS / period; c++)); do
    got=$(printf '%s\n' "${order[@]:c*period:period}" | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')
    [[ $got == "rs1=3 rs2=2 rs3=1 " ]] ||
      fail "wrr window $c (requests $((c * period))..$((c * period + period - 1))): $got"
  done
fi

# The servers saw the client's own address (DR changes no IP address) and
# each logged exactly the requests whose answers carried its name.
for i in 1 2 3; do
  logged=$(grep -E '"GET /whoami\?n=[0-9]+ HTTP/1\.1" 200' "$WORK/rs$i.http.log" || true)
  total=$(grep -c . <<<"$logged" || true)
  from_client=$(grep -cE "^${CLIENT//./\\.} - - " <<<"$logged" || true)
  [[ $total -eq ${count[rs$i]} && $from_client -eq $total ]] ||
    fail "rs$i log: $total requests, $from_client from $CLIENT; expected ${count[rs$i]}, all from $CLIENT"
  want=$(tr ' ' '\n' <<<"${answered[rs$i]:-}" | grep . | sort -n | tr '\n' ' ' || true)
  have=$(sed -nE 's/.*"GET \/whoami\?n=([0-9]+) .*/\1/p' <<<"$logged" | sort -n | tr '\n' ' ' || true)
  [[ $want == "$have" ]] || fail "rs$i logged requests {$have}, answered {$want}"
done

# ---------------------------------------------------------------- replies bypass dplbd
# Every request has at least a SYN-ACK, the response and a FIN from the
# server. Wait (bounded) until the capture holds that many, then stop it.
min_replies=$((3 * REQUESTS))
captured() { tcpdump -n -r "$WORK/cl.pcap" 2>/dev/null | wc -l; }
for ((try = 0; try < 50; try++)); do
  [[ $(captured) -ge $min_replies ]] && break
  sleep 0.1
done
ns_stop "$TCPDUMP_PID" 50 || true
lb_mac=$(mac_of lb lan0)
declare -A rs_mac_of=()
for i in 1 2 3; do
  rs_mac_of[$(mac_of "rs$i" eth0)]=rs$i
done
neigh=$(ip -n "$(ns_name cl)" neigh show "$VIP" dev eth0 | grep -oE 'lladdr [0-9a-f:]+' | cut -d' ' -f2 || true)
[[ $neigh == "$lb_mac" ]] || fail "client's neighbour entry for $VIP is '$neigh', not dplbd's $lb_mac"
replies=0
while read -r mac; do
  if [[ -n ${rs_mac_of[$mac]:-} ]]; then
    replies=$((replies + 1))
  else
    fail "a reply from $VIP:80 reached the client from MAC $mac, not a real server's"
  fi
done < <(tcpdump -n -e -r "$WORK/cl.pcap" 2>/dev/null | awk '{print $2}')
[[ $replies -ge $min_replies ]] ||
  fail "client captured $replies reply frames from real servers, expected at least $min_replies"
echo "client: $replies reply frames from VIP:80, all from real servers' MACs (dplbd's is $lb_mac)"

# dplbd's own counters: it carried the requests (InPkts) and no reply.
dplbadm -L -n --stats --exact >"$WORK/stats.txt"
cat "$WORK/stats.txt"
read -r _ _ conns inpkts outpkts _ < <(grep -E "^TCP +$VIP:80 " "$WORK/stats.txt") || true
[[ ${conns:-0} -ge $REQUESTS && ${inpkts:-0} -ge $((4 * REQUESTS)) && ${outpkts:-x} == 0 ]] ||
  fail "service counters: Conns ${conns:-?} InPkts ${inpkts:-?} OutPkts ${outpkts:-?};" \
    "expected Conns >= $REQUESTS, InPkts >= $((4 * REQUESTS)), OutPkts 0"
for i in 1 2 3; do
  read -r _ _ s_conns s_in s_out _ < <(grep -E "^ +-> ${RS_ADDR[i - 1]}:80 " "$WORK/stats.txt") || true
  [[ ${s_conns:-0} -ge ${count[rs$i]} && ${s_in:-0} -gt 0 && ${s_out:-x} == 0 ]] ||
    fail "rs$i counters: Conns ${s_conns:-?} InPkts ${s_in:-?} OutPkts ${s_out:-?}; expected OutPkts 0"
done

# ---------------------------------------------------------------- stop
dplbd_stop
e2e_finish
