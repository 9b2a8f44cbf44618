#!/usr/bin/env bash
# End-to-end NAT test: real kernels on both sides of dplbd, in network namespaces.
#
#   usage: nat_e2e_test.sh /path/to/dplbd        (root; exit 77 = skipped)
#
#   cl (client)             lb (dplbd)                      sw (bridge)     rs1..rs3
#   eth0 10.0.0.5/24 ---- lbwan  [wan0 10.0.0.2]            br0 --------- eth0 10.0.1.1x/24
#                                [VIP 10.0.0.100]                          default via 10.0.1.2
#                         lblan  [lan0 10.0.1.2] -------- swlb
#
# The lb namespace's interfaces carry no kernel address and ip_forward is off:
# every packet between client and servers goes through dplbd's af_packet ports
# (dplbd answers ARP for the VIP and its port addresses and resolves the
# servers by ARP). Offloads are off on every veth end, so a wrong checksum
# written by dplbd is dropped by the receiving kernel (TESTING-NOTES.md).
#
# Services (all NAT):
#   web    tcp VIP:80 -> rs1..rs3:8080  wrr 3,2,1   python http.server
#   echo   udp VIP:53 -> rs1..rs3:9000  rr          python UDP echo (name + peer)
#   probe  tcp VIP:81 -> rs1..rs3:8080  rr          start-up polling only
# `probe` exists so that waiting for dplbd to forward does not advance the
# schedulers of `web` and `echo`: with one worker their splits are then exact.
#
# Checks: every request answered; the WRR split is exactly 3:2:1 in every
# full cycle; the servers log the client's address (no SNAT); every UDP
# datagram is answered from VIP:53 by a server that saw the client's address
# and port, in an exact rr split; dplbd stops on SIGTERM with exit 0 and
# reports the connections it made. Set DPLB_E2E_TCPDUMP=1 to capture on the
# client and server sides (the capture files are kept with the logs).

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/dplbd.sh
source "$HERE/../lib/dplbd.sh"

e2e_init nat "${1:?usage: $0 /path/to/dplbd}"
# The captures are kept with the logs.
[[ ${DPLB_E2E_TCPDUMP:-0} != 1 ]] || DPLB_E2E_KEEP=1

readonly CLIENT=10.0.0.5
readonly WAN_ADDR=10.0.0.2
readonly VIP=10.0.0.100
readonly LAN_ADDR=10.0.1.2
readonly RS_ADDR=(10.0.1.11 10.0.1.12 10.0.1.13)
readonly RS_WEIGHT=(3 2 1)
readonly HTTP_REQUESTS=120  # 20 full WRR cycles of 3+2+1
readonly UDP_DATAGRAMS=30   # 10 full rr cycles
readonly HTTP_PORT_BASE=20000 # client source ports: one fresh 5-tuple per request,
readonly UDP_PORT_BASE=21000  # outside the ephemeral range

e2e_diag_file "$WORK/http.out" "$WORK/udp.out"
for i in 1 2 3; do
  e2e_diag_file "$WORK/rs$i.http.log" "$WORK/rs$i.udp.log"
done
e2e_diag_ns cl lb rs1

# ---------------------------------------------------------------- topology
ns_add_all cl lb sw rs1 rs2 rs3
e2e_two_arm_topology "$CLIENT" "$LAN_ADDR" "${RS_ADDR[@]}"

# What the topology promises (ns_link does not fail on ethtool errors): the
# kernel of the lb namespace neither owns an address on dplbd's interfaces nor
# forwards, and no veth end offloads checksums or segmentation.
[[ $(ns_exec lb sysctl -n net.ipv4.ip_forward) == 0 ]] || fail "ip_forward is on in lb"
e2e_expect_no_kernel_addr lb lbwan lblan
for nsif in cl:eth0 lb:lbwan lb:lblan sw:swlb rs1:eth0 rs2:eth0 rs3:eth0 \
  sw:swrs1 sw:swrs2 sw:swrs3; do
  on=$(ns_exec "${nsif%%:*}" ethtool -k "${nsif#*:}" |
    grep -E '^(rx-checksumming|tx-checksumming|tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload): on' || true)
  [[ -z $on ]] || fail "offloads still on at ${nsif}: ${on//$'\n'/, }"
done
[[ $FAILS -eq 0 ]] || exit 1

# ---------------------------------------------------------------- servers
for i in 1 2 3; do
  http_whoami_server "rs$i" 8080
  udp_echo_server "rs$i" 0.0.0.0 9000
done

if [[ ${DPLB_E2E_TCPDUMP:-0} == 1 ]]; then
  ns_bg cl "$WORK/tcpdump-cl.log" tcpdump -n -U -i eth0 -w "$WORK/cl.pcap" >/dev/null
  ns_bg rs1 "$WORK/tcpdump-rs1.log" tcpdump -n -U -i eth0 -w "$WORK/rs1.pcap" >/dev/null
  ns_wait_file "$WORK/tcpdump-cl.log" 'listening' 50
  ns_wait_file "$WORK/tcpdump-rs1.log" 'listening' 50
fi

# ---------------------------------------------------------------- dplbd
{
  dplbd_yaml_dataplane "wan0=lbwan:$WAN_ADDR/24" "lan0=lblan:$LAN_ADDR/24"
  echo "services:"
  dplbd_yaml_service web "$VIP" 80 tcp wrr nat 8080 \
    "${RS_ADDR[0]}:${RS_WEIGHT[0]}" "${RS_ADDR[1]}:${RS_WEIGHT[1]}" "${RS_ADDR[2]}:${RS_WEIGHT[2]}"
  dplbd_yaml_service echo "$VIP" 53 udp rr nat 9000 "${RS_ADDR[@]}"
  dplbd_yaml_service probe "$VIP" 81 tcp rr nat 8080 "${RS_ADDR[@]}"
  dplbd_yaml_tail
} >"$WORK/dplb.yaml"
dplbd_start "$WORK/dplb.yaml"

# Start-up: poll (bounded) until a request through the VIP is answered. Each
# try is bounded by curl's own timeouts; a dead dplbd ends the wait at once.
dplbd_wait_http 40 "http://$VIP:81/whoami?probe"
# Three more through the rr probe service: one per server, so every server's
# neighbour entry is known on both sides before the measured runs.
e2e_warm_up 3 "http://$VIP:81/whoami?probe=warm"
echo "dplbd forwards through $VIP (probe service answered, servers warmed up)"

# dplbd's ARP answered the client for the VIP and the servers for its lan
# address (nothing else in the topology could).
[[ $(ns_neigh_mac cl "$VIP" eth0) == "$(mac_of lb lbwan)" ]] ||
  fail "client's neighbour entry for $VIP is '$(ns_neigh_mac cl "$VIP" eth0)', not lbwan's $(mac_of lb lbwan)"
for i in 1 2 3; do
  [[ $(ns_neigh_mac "rs$i" "$LAN_ADDR" eth0) == "$(mac_of lb lblan)" ]] ||
    fail "rs$i's neighbour entry for $LAN_ADDR is '$(ns_neigh_mac "rs$i" "$LAN_ADDR" eth0)', not lblan's"
done

# ---------------------------------------------------------------- TCP / HTTP
# One curl per request, each from its own source port (a fresh 5-tuple, so
# each is one new connection scheduled by wrr).
http_request_loop "$VIP" "$HTTP_REQUESTS" "$HTTP_PORT_BASE" >"$WORK/http.out"
http_tally "$WORK/http.out" "$VIP:80" "$HTTP_REQUESTS"

# WRR 3:2:1 with one worker is deterministic: every run of 6 consecutive new
# connections from a fresh scheduler is one full cycle (3 rs1, 2 rs2, 1 rs3),
# so 120 requests split exactly 60/40/20.
cycle=$((RS_WEIGHT[0] + RS_WEIGHT[1] + RS_WEIGHT[2]))
for i in 1 2 3; do
  expect=$((HTTP_REQUESTS * RS_WEIGHT[i - 1] / cycle))
  [[ ${HTTP_COUNT[rs$i]} -eq $expect ]] ||
    fail "WRR split: rs$i answered ${HTTP_COUNT[rs$i]} requests, expected $expect"
done
http_check_windows "$HTTP_REQUESTS" "${RS_WEIGHT[@]}"

# The servers saw the client's own address, and each logged exactly the
# requests whose answers carried its name.
http_check_server_logs "$CLIENT"

# ---------------------------------------------------------------- UDP
# One socket per datagram (fresh source port: a new connection each, rr).
# Output: "<n> <src ip> <src port> <reply>" or "<n> TIMEOUT".
ns_exec cl "$PY" -c '
import socket, sys
vip, port, n, base, client = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
timeouts = 0
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((client, base + i))
    s.settimeout(3)
    s.sendto(b"ping %d" % i, (vip, port))
    try:
        data, src = s.recvfrom(2048)
        print(i, src[0], src[1], data.decode(errors="replace"), flush=True)
    except socket.timeout:
        print(i, "TIMEOUT", flush=True)
        timeouts += 1
        if timeouts >= 3:
            break
    s.close()
' "$VIP" 53 "$UDP_DATAGRAMS" "$UDP_PORT_BASE" "$CLIENT" >"$WORK/udp.out"

declare -A udp_count=([rs1]=0 [rs2]=0 [rs3]=0)
udp_ok=0
while read -r n src sport name peer payload; do
  if [[ $src == "$VIP" && $sport == 53 && $name =~ ^rs[123]$ &&
    $peer == "$CLIENT:$((UDP_PORT_BASE + n))" && $payload == "ping $n" ]]; then
    udp_ok=$((udp_ok + 1))
    udp_count[$name]=$((udp_count[$name] + 1))
  else
    fail "UDP datagram $n: $src ${sport:-} ${name:-} ${peer:-} ${payload:-}"
  fi
done <"$WORK/udp.out"
[[ $udp_ok -eq $UDP_DATAGRAMS ]] || fail "UDP: $udp_ok of $UDP_DATAGRAMS datagrams answered"
for i in 1 2 3; do
  [[ ${udp_count[rs$i]} -eq $((UDP_DATAGRAMS / 3)) ]] ||
    fail "rr split: rs$i answered ${udp_count[rs$i]} datagrams, expected $((UDP_DATAGRAMS / 3))"
  seen=$(grep -c "^$CLIENT " "$WORK/rs$i.udp.log" || true)
  [[ $seen -eq ${udp_count[rs$i]} ]] ||
    fail "rs$i echo server saw $seen datagrams from $CLIENT, answered ${udp_count[rs$i]}"
done
echo "UDP: $udp_ok/$UDP_DATAGRAMS answered; rs1=${udp_count[rs1]} rs2=${udp_count[rs2]} rs3=${udp_count[rs3]}"

# ---------------------------------------------------------------- stop
dplbd_stop
stopped=$(dplbd_stopped_line)
if [[ -z $stopped ]]; then
  fail "dplbd did not print its 'stopped: ...' summary"
else
  echo "dplbd $stopped"
  read -r conns < <(sed -E 's/.* ([0-9]+) connections/\1/' <<<"$stopped")
  min_conns=$((HTTP_REQUESTS + UDP_DATAGRAMS + 4))
  [[ $conns -ge $min_conns ]] ||
    fail "dplbd counted $conns connections, expected at least $min_conns"
fi
e2e_finish
