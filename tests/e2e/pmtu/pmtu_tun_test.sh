#!/usr/bin/env bash
# End-to-end path-MTU test of a TUN service whose tunnel does not fit: the
# port towards the real server has MTU 1400, the client's path 1500.
#
#   usage: pmtu_tun_test.sh /path/to/dplbd /path/to/dplbadm   (root; exit 77 = skipped)
#
#   cl   eth0 10.0.0.5/24 (MTU 1500), default via rt --+
#   lb   wan0 [port 10.0.0.2/24, mtu 1500] ------------+-- sw: br0
#        [VIPs 10.0.0.100 (tcp), 10.0.0.101 (udp)]     |
#   rt   eth0 10.0.0.1/24 -----------------------------+
#   rt   eth1 10.0.1.1/24 -----------------------------+
#   lb   lan0 [port 10.0.1.2/24, mtu 1400] ------------+-- sw: br1
#   rs1  eth0 10.0.1.11/24, default via rt; tun0 holds both VIPs (ipip_decap.py)
#
# Issue 5 item 2: an inner packet of more than 1400 - 20 bytes does not fit.
#   DF set   -> ICMP fragmentation needed, next-hop MTU 1380, to the client;
#   DF clear -> the outer packet is fragmented (the server reassembles it).
#
# Services (tun, one server): upload tcp 10.0.0.100:80 (upload_server.py),
# dgram udp 10.0.0.101:53 (answers "rs1 <peer> len=<n>").
#
# Checks:
#  1. TCP: the client (MSS 1460, its own MTU 1500) uploads 1 MiB through the
#     VIP: it completes, and the server reports every byte with the right
#     SHA-256; before it the client knew no path MTU for the VIP, after it
#     `ip route get` shows mtu 1380 (learned from dplbd's frag-needed), and
#     the largest tunnel packet the server got was exactly 1400 bytes. Without
#     working PMTU the first full-size segment would be dropped forever.
#  2. UDP, DF clear, 1450 bytes: answered; the server reassembled the outer
#     fragments (IpReasmOKs) into a 1470-byte tunnel packet with DF clear.
#  3. UDP, DF set, 1428 bytes: the client's error queue gets ICMP type 3 code
#     4 with MTU 1380 from dplbd's address on wan0 (10.0.0.2); the socket's
#     IP_MTU becomes 1380; the server never saw it. A datagram that fits
#     (1380 bytes) is then answered.
#  dplbd counted the refusals (mtu_exceeded) and stops with exit 0.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/netns.sh
source "$HERE/../lib/netns.sh"
# shellcheck source=SCRIPTDIR/../lib/dplbd.sh
source "$HERE/../lib/dplbd.sh"

e2e_init pmtu-tun "${1:-}" "${2:?usage: $0 /path/to/dplbd /path/to/dplbadm}"

readonly CLIENT=10.0.0.5
readonly WAN_ADDR=10.0.0.2
readonly VIP_TCP=10.0.0.100
readonly VIP_UDP=10.0.0.101
readonly RT_CLIENT_SIDE=10.0.0.1
readonly RT_SERVER_SIDE=10.0.1.1
readonly LAN_ADDR=10.0.1.2
readonly RS=10.0.1.11
readonly LAN_MTU=1400
readonly TUNNEL_MTU=$((LAN_MTU - 20))
readonly UPLOAD_BYTES=$((1024 * 1024))

e2e_diag_file "$WORK/rs1.decap.log" "$WORK/rs1.http.log" "$WORK/rs1.udp.log" \
  "$WORK/upload.out" "$WORK/udp.out"
e2e_diag_ns cl lb rt rs1

# ---------------------------------------------------------------- topology
for ns in cl lb rt sw rs1; do
  ns_add "$ns"
  ns_no_ipv6 "$ns"
done
ns_link cl eth0 sw swcl
ns_link lb wan0 sw swlbw
ns_link rt eth0 sw swrt0
ns_link lb lan0 sw swlbl
ns_link rt eth1 sw swrt1
ns_link rs1 eth0 sw swrs1
ns_bridge sw br0 swcl swlbw swrt0
ns_bridge sw br1 swlbl swrt1 swrs1

ns_exec lb sysctl -qw net.ipv4.ip_forward=0
ns_exec rt sysctl -qw net.ipv4.ip_forward=1
ns_addr cl eth0 "$CLIENT/24"
ip -n "$(ns_name cl)" route add default via "$RT_CLIENT_SIDE"
ns_addr rt eth0 "$RT_CLIENT_SIDE/24"
ns_addr rt eth1 "$RT_SERVER_SIDE/24"
ns_addr rs1 eth0 "$RS/24"
ip -n "$(ns_name rs1)" route add default via "$RT_SERVER_SIDE"

# ---------------------------------------------------------------- server
tun_rs_decap rs1 "$WORK/rs1.decap.log" "$VIP_TCP" "$VIP_UDP"
ns_bg rs1 "$WORK/rs1.http.log" "$PY" -u "$E2E_LIB/upload_server.py" rs1 80 >/dev/null
ns_bg rs1 "$WORK/rs1.udp.log" "$PY" -u -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(65535)
    print(peer[0], peer[1], len(data), flush=True)
    s.sendto(b"rs1 %s:%d len=%d" % (peer[0].encode(), peer[1], len(data)), peer)
' "$VIP_UDP" >/dev/null
ns_wait_file "$WORK/rs1.http.log" '^ready$' 100
ns_wait_file "$WORK/rs1.udp.log" '^ready$' 100

# ---------------------------------------------------------------- dplbd
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
      mtu: $LAN_MTU
  conn_table: { capacity: 4096 }
services:
  - name: upload
    vip: $VIP_TCP
    port: 80
    protocol: tcp
    scheduler: rr
    forward: tun
    real_servers:
      - { address: $RS }
  - name: dgram
    vip: $VIP_UDP
    port: 53
    protocol: udp
    scheduler: rr
    forward: tun
    real_servers:
      - { address: $RS }
admin: { socket: $DPLB_SOCK }
metrics: { listen: "" }
logging: { level: info }
EOF
dplbd_start "$WORK/dplb.yaml"

# Start-up probe with a small request (fits any path MTU, learns nothing).
probe() {
  ns_exec cl curl -sf --connect-timeout 1 --max-time 2 -o /dev/null "http://$VIP_TCP/blob?size=10"
}
dplbd_wait_until 50 probe || {
  echo "no answer through $VIP_TCP:80" >&2
  exit 1
}
echo "dplbd forwards through $VIP_TCP"

route_mtu() { # NS DST: the path MTU the kernel caches for DST, or "none"
  local mtu
  mtu=$(ns_exec "$1" ip -o route get "$2" | grep -oE ' mtu [0-9]+' | awk '{print $2}' || true)
  echo "${mtu:-none}"
}

# ---------------------------------------------------------------- 1. TCP upload
[[ $(route_mtu cl "$VIP_TCP") == none ]] ||
  fail "client knows a path MTU for $VIP_TCP before the upload: $(route_mtu cl "$VIP_TCP")"
head -c "$UPLOAD_BYTES" /dev/urandom >"$WORK/upload.bin"
want_sum=$(sha256sum "$WORK/upload.bin" | cut -d' ' -f1)
# Expect: off, so curl sends the body at once (no 100-continue round).
ns_exec cl curl -sS --connect-timeout 2 --max-time 30 -H 'Expect:' \
  -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/upload.bin" \
  "http://$VIP_TCP/upload" >"$WORK/upload.out" 2>&1 || fail "upload: curl exited with $?"
read -r who peer got sum rest <"$WORK/upload.out" || true
[[ ${who:-} == rs1 && ${peer:-} == "$CLIENT" && ${got:-} == "$UPLOAD_BYTES" &&
  ${sum:-} == "$want_sum" && -z ${rest:-} ]] ||
  fail "upload: server reported '$(head -c 200 "$WORK/upload.out")'," \
    "expected 'rs1 $CLIENT $UPLOAD_BYTES $want_sum'"
[[ $(route_mtu cl "$VIP_TCP") == "$TUNNEL_MTU" ]] ||
  fail "client's path MTU for $VIP_TCP after the upload: $(route_mtu cl "$VIP_TCP"), expected $TUNNEL_MTU"
max_outer=$(grep -E "^ipip .* inner src=$CLIENT dst=$VIP_TCP " "$WORK/rs1.decap.log" |
  sed -nE 's/^ipip outer .* len=([0-9]+) csum=ok inner .*/\1/p' | sort -n | tail -n 1)
[[ ${max_outer:-0} -eq $LAN_MTU ]] ||
  fail "largest tunnel packet of the upload: ${max_outer:-none} bytes, expected exactly $LAN_MTU"
echo "TCP: uploaded $UPLOAD_BYTES bytes (sha256 ok); client path MTU $(route_mtu cl "$VIP_TCP");" \
  "largest tunnel packet ${max_outer:-none}"

# ---------------------------------------------------------------- 2. UDP, DF clear
# Sent first: the client then knows no path MTU for this VIP and sends the
# 1450-byte datagram whole (its MTU is 1500); dplbd must fragment the tunnel.
reasm_before=$(ns_exec rs1 nstat -az IpReasmOKs | awk '$1 == "IpReasmOKs" {print $2}')
ns_exec cl "$PY" "$E2E_LIB/udp_probe.py" "$CLIENT" "$VIP_UDP" 53 $((1450 - 28)) dont \
  >"$WORK/udp.out"
reasm_after=$(ns_exec rs1 nstat -az IpReasmOKs | awk '$1 == "IpReasmOKs" {print $2}')
read -r kind _ text < <(head -n 1 "$WORK/udp.out") || true
[[ ${kind:-} == reply && ${text:-} =~ ^rs1\ $CLIENT:[0-9]+\ len=$((1450 - 28))$ ]] ||
  fail "DF-clear datagram: '$(head -n 1 "$WORK/udp.out")', expected an answer for $((1450 - 28)) bytes"
[[ $((reasm_after - reasm_before)) -ge 1 ]] ||
  fail "the server reassembled no fragments (IpReasmOKs $reasm_before -> $reasm_after)"
grep -qE "^ipip outer src=$LAN_ADDR dst=$RS ttl=[0-9]+ tos=0x00 df=0 mf=0 id=[0-9]+ len=1470 csum=ok inner src=$CLIENT dst=$VIP_UDP ttl=[0-9]+ tos=0x00 df=0 proto=17 len=1450 csum=ok$" \
  "$WORK/rs1.decap.log" || fail "no reassembled 1470-byte DF-clear tunnel packet in the decapsulator's log"
echo "UDP DF clear: 1450-byte datagram answered; outer fragments reassembled by the server" \
  "(IpReasmOKs +$((reasm_after - reasm_before)))"

# ---------------------------------------------------------------- 3. UDP, DF set
mtu_drops_before=$(dplbd_drop mtu_exceeded)
seen_before=$(grep -c "^$CLIENT " "$WORK/rs1.udp.log" || true)
ns_exec cl "$PY" "$E2E_LIB/udp_probe.py" "$CLIENT" "$VIP_UDP" 53 $((1428 - 28)) "do" \
  >"$WORK/udp.out"
want_icmp="icmp type=3 code=4 info=$TUNNEL_MTU errno=90 offender=$WAN_ADDR"
[[ $(head -n 1 "$WORK/udp.out") == "$want_icmp" ]] ||
  fail "DF datagram of 1428 bytes: '$(head -n 1 "$WORK/udp.out")', expected '$want_icmp'"
[[ $(sed -n 2p "$WORK/udp.out") == "ip_mtu $TUNNEL_MTU" ]] ||
  fail "client socket's path MTU after frag-needed: '$(sed -n 2p "$WORK/udp.out")', expected ip_mtu $TUNNEL_MTU"
[[ $(route_mtu cl "$VIP_UDP") == "$TUNNEL_MTU" ]] ||
  fail "client's path MTU for $VIP_UDP: $(route_mtu cl "$VIP_UDP"), expected $TUNNEL_MTU"
[[ $(grep -c "^$CLIENT " "$WORK/rs1.udp.log" || true) -eq $seen_before ]] ||
  fail "the server received the DF datagram that does not fit the tunnel"
mtu_drops_after=$(dplbd_drop mtu_exceeded)
[[ $((mtu_drops_after - mtu_drops_before)) -eq 1 ]] ||
  fail "dplbd's mtu_exceeded went $mtu_drops_before -> $mtu_drops_after, expected +1"
echo "UDP DF set: $(head -n 1 "$WORK/udp.out")"
# What fits the learned path MTU goes through.
ns_exec cl "$PY" "$E2E_LIB/udp_probe.py" "$CLIENT" "$VIP_UDP" 53 $((TUNNEL_MTU - 28)) "do" \
  >"$WORK/udp.out"
read -r kind _ text < <(head -n 1 "$WORK/udp.out") || true
[[ ${kind:-} == reply && ${text:-} =~ ^rs1\ $CLIENT:[0-9]+\ len=$((TUNNEL_MTU - 28))$ ]] ||
  fail "DF datagram of $TUNNEL_MTU bytes: '$(head -n 1 "$WORK/udp.out")', expected an answer"

dplbadm --status | sed -n '/^drops:/,/^port/p'

# ---------------------------------------------------------------- stop
dplbd_stop
e2e_finish
