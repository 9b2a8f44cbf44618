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
ns_add_all cl lb rt sw rs1
e2e_routed_topology "$CLIENT" "$RT_CLIENT_SIDE" "$RT_SERVER_SIDE"
e2e_servers_behind sw br1 "$RT_SERVER_SIDE" "$RS"

# ---------------------------------------------------------------- server
tun_rs_decap rs1 "$WORK/rs1.decap.log" "$VIP_TCP" "$VIP_UDP"
ns_bg rs1 "$WORK/rs1.http.log" "$PY" -u "$E2E_LIB/upload_server.py" rs1 80 >/dev/null
ns_wait_file "$WORK/rs1.http.log" '^ready$' 100
udp_echo_server rs1 "$VIP_UDP" 53 --len

# ---------------------------------------------------------------- dplbd
{
  dplbd_yaml_dataplane "wan0=wan0:$WAN_ADDR/24" "lan0=lan0:$LAN_ADDR/24:$LAN_MTU"
  echo "services:"
  dplbd_yaml_service upload "$VIP_TCP" 80 tcp rr tun - "$RS"
  dplbd_yaml_service dgram "$VIP_UDP" 53 udp rr tun - "$RS"
  dplbd_yaml_tail
} >"$WORK/dplb.yaml"
dplbd_start "$WORK/dplb.yaml"

# Start-up probe with a small request (fits any path MTU, learns nothing).
dplbd_wait_http 50 "http://$VIP_TCP/blob?size=10"
echo "dplbd forwards through $VIP_TCP"

# ---------------------------------------------------------------- 1. TCP upload
[[ $(ns_route_mtu cl "$VIP_TCP") == none ]] ||
  fail "client knows a path MTU for $VIP_TCP before the upload: $(ns_route_mtu cl "$VIP_TCP")"
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
[[ $(ns_route_mtu cl "$VIP_TCP") == "$TUNNEL_MTU" ]] ||
  fail "client's path MTU for $VIP_TCP after the upload: $(ns_route_mtu cl "$VIP_TCP"), expected $TUNNEL_MTU"
max_outer=$(grep -E "^ipip .* inner src=$CLIENT dst=$VIP_TCP " "$WORK/rs1.decap.log" |
  sed -nE 's/^ipip outer .* len=([0-9]+) csum=ok inner .*/\1/p' | sort -n | tail -n 1)
[[ ${max_outer:-0} -eq $LAN_MTU ]] ||
  fail "largest tunnel packet of the upload: ${max_outer:-none} bytes, expected exactly $LAN_MTU"
echo "TCP: uploaded $UPLOAD_BYTES bytes (sha256 ok); client path MTU $(ns_route_mtu cl "$VIP_TCP");" \
  "largest tunnel packet ${max_outer:-none}"

# ---------------------------------------------------------------- 2. UDP, DF clear
# Sent first: the client then knows no path MTU for this VIP and sends the
# 1450-byte datagram whole (its MTU is 1500); dplbd must fragment the tunnel.
reasm_before=$(ns_nstat rs1 IpReasmOKs)
ns_exec cl "$PY" "$E2E_LIB/udp_probe.py" "$CLIENT" "$VIP_UDP" 53 $((1450 - 28)) dont \
  >"$WORK/udp.out"
reasm_after=$(ns_nstat rs1 IpReasmOKs)
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
[[ $(ns_route_mtu cl "$VIP_UDP") == "$TUNNEL_MTU" ]] ||
  fail "client's path MTU for $VIP_UDP: $(ns_route_mtu cl "$VIP_UDP"), expected $TUNNEL_MTU"
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
