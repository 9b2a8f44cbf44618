#!/usr/bin/env bash
# End-to-end path-MTU discovery through NAT services: the real server sends a
# large download with full-size (1500-byte, DF) segments and must learn the
# client's smaller path MTU, from either of two places:
#
#   usage: pmtu_nat_test.sh /path/to/dplbd /path/to/dplbadm   (root; exit 77 = skipped)
#
#   cl eth1 10.0.3.5/24 (1500) ----------------- lb wan1 [port 10.0.3.2/24, mtu 1300]
#                                                   [VIP_D 10.0.3.100]
#   cl eth0 10.0.0.5/24 (1500) -- rt rcl 10.0.0.1/24 (MTU 1400)
#                                 rt rlb 10.0.2.1/24 -- lb wan0 [port 10.0.2.2/24, mtu 1500]
#                                                          [VIP_R 10.0.2.100]
#                                                       lb lan0 [port 10.0.1.2/24]
#                                                           |
#                                                  rs1 eth0 10.0.1.11/24, default via lb
#
#  D (direct): dplbd's own port towards the client has mtu 1300: dplbd sends
#     ICMP fragmentation needed (MTU 1300) to the real server, quoting the
#     server's packet as it sent it.
#  R (router): dplbd's port is 1500 but the router's link to the client is
#     1400: the router sends fragmentation needed to the VIP (the source it
#     saw), and dplbd must translate it (outer destination and quoted source
#     back to the server) for the server's TCP to find its connection.
#
# The client's own MTU is 1500 on both paths (MSS 1460), so the server starts
# with 1500-byte packets; without working PMTU they are dropped forever and
# the download times out.
#
# Services (nat): webr tcp VIP_R:80 and webd tcp VIP_D:80 -> rs1:8080
# (upload_server.py: GET /blob?size=N answers N deterministic bytes).
#
# Checks, per path: the server knew no path MTU for the client before; a
# 2 MiB download completes with the right SHA-256; the server's `ip route
# get <client>` then shows mtu 1300 (D) / 1400 (R); D: dplbd counted
# mtu_exceeded; R: dplbd counted none (its port was never the limit), the
# router sent frag-needed and the server received ICMP. dplbd stops with 0.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/dplbd.sh
source "$HERE/../lib/dplbd.sh"

e2e_init pmtu-nat "${1:-}" "${2:?usage: $0 /path/to/dplbd /path/to/dplbadm}"

readonly CLIENT_R=10.0.0.5
readonly CLIENT_D=10.0.3.5
readonly RT_CLIENT_SIDE=10.0.0.1
readonly RT_LB_SIDE=10.0.2.1
readonly WAN0_ADDR=10.0.2.2
readonly WAN1_ADDR=10.0.3.2
readonly LAN_ADDR=10.0.1.2
readonly VIP_R=10.0.2.100
readonly VIP_D=10.0.3.100
readonly RS=10.0.1.11
readonly RT_CLIENT_MTU=1400
readonly WAN1_MTU=1300
readonly DOWNLOAD_BYTES=$((2 * 1024 * 1024))

e2e_diag_file "$WORK/rs1.http.log" "$WORK/download-R.err" "$WORK/download-D.err"
e2e_diag_ns cl lb rt rs1

# ---------------------------------------------------------------- topology
ns_add_all cl rt lb rs1
ns_link cl eth0 rt rcl
ns_link rt rlb lb wan0
ns_link cl eth1 lb wan1
ns_link lb lan0 rs1 eth0
ip -n "$(ns_name rt)" link set rcl mtu "$RT_CLIENT_MTU"

ns_exec lb sysctl -qw net.ipv4.ip_forward=0
ns_exec rt sysctl -qw net.ipv4.ip_forward=1
ns_addr cl eth0 "$CLIENT_R/24"
ns_addr cl eth1 "$CLIENT_D/24"
ip -n "$(ns_name cl)" route add "$VIP_R/32" via "$RT_CLIENT_SIDE"
ns_addr rt rcl "$RT_CLIENT_SIDE/24"
ns_addr rt rlb "$RT_LB_SIDE/24"
ns_addr rs1 eth0 "$RS/24"
ip -n "$(ns_name rs1)" route add default via "$LAN_ADDR"
e2e_expect_no_kernel_addr lb wan0 wan1 lan0
[[ $(ip -n "$(ns_name cl)" -o link show eth0) =~ \ mtu\ 1500\  ]] || fail "client eth0 MTU is not 1500"
[[ $FAILS -eq 0 ]] || exit 1

# ---------------------------------------------------------------- server
ns_bg rs1 "$WORK/rs1.http.log" "$PY" -u "$E2E_LIB/upload_server.py" rs1 8080 >/dev/null
ns_wait_file "$WORK/rs1.http.log" '^ready$' 100

# ---------------------------------------------------------------- dplbd
{
  dplbd_yaml_dataplane "wan0=wan0:$WAN0_ADDR/24" "wan1=wan1:$WAN1_ADDR/24:$WAN1_MTU" \
    "lan0=lan0:$LAN_ADDR/24"
  echo "  routes:"
  echo "    - { prefix: 10.0.0.0/24, via: $RT_LB_SIDE }"
  echo "services:"
  dplbd_yaml_service webr "$VIP_R" 80 tcp rr nat 8080 "$RS"
  dplbd_yaml_service webd "$VIP_D" 80 tcp rr nat 8080 "$RS"
  dplbd_yaml_tail
} >"$WORK/dplb.yaml"
dplbd_start "$WORK/dplb.yaml"

# Start-up probes: small answers (fit every path, teach nobody an MTU).
dplbd_wait_http 50 "http://$VIP_R/blob?size=10" "http://$VIP_D/blob?size=10"
echo "dplbd forwards through $VIP_R (via the router) and $VIP_D (direct)"
want_sum=$("$PY" -c '
import hashlib, sys
sys.path.insert(0, sys.argv[1])
import upload_server
print(hashlib.sha256(upload_server.blob(int(sys.argv[2]))).hexdigest())
' "$E2E_LIB" "$DOWNLOAD_BYTES")

# download PATH VIP CLIENT_ADDR EXPECTED_MTU
download() {
  local path=$1 vip=$2 client=$3 mtu=$4 sum
  [[ $(ns_route_mtu rs1 "$client") == none ]] ||
    fail "$path: the server knows a path MTU for $client before the download: $(ns_route_mtu rs1 "$client")"
  if ns_exec cl curl -sS --connect-timeout 2 --max-time 20 -o "$WORK/download-$path.bin" \
    "http://$vip/blob?size=$DOWNLOAD_BYTES" 2>"$WORK/download-$path.err"; then
    sum=$(sha256sum "$WORK/download-$path.bin" | cut -d' ' -f1)
    [[ $sum == "$want_sum" ]] ||
      fail "$path: downloaded $(stat -c %s "$WORK/download-$path.bin") bytes with sha256 $sum, expected $DOWNLOAD_BYTES bytes, $want_sum"
  else
    fail "$path: download of $DOWNLOAD_BYTES bytes through $vip failed: $(cat "$WORK/download-$path.err")"
  fi
  [[ $(ns_route_mtu rs1 "$client") == "$mtu" ]] ||
    fail "$path: the server's path MTU for $client is $(ns_route_mtu rs1 "$client"), expected $mtu"
  echo "$path: downloaded $DOWNLOAD_BYTES bytes through $vip; server's path MTU for $client: $(ns_route_mtu rs1 "$client")"
}

# ---------------------------------------------------------------- R: the router's frag-needed
mtu_drops_before=$(dplbd_drop mtu_exceeded)
rt_unreach_before=$(ns_nstat rt IcmpOutDestUnreachs)
rs_unreach_before=$(ns_nstat rs1 IcmpInDestUnreachs)
download R "$VIP_R" "$CLIENT_R" "$RT_CLIENT_MTU"
[[ $(dplbd_drop mtu_exceeded) -eq $mtu_drops_before ]] ||
  fail "R: dplbd refused packets for its own MTU ($mtu_drops_before -> $(dplbd_drop mtu_exceeded)); only the router should"
[[ $(ns_nstat rt IcmpOutDestUnreachs) -gt $rt_unreach_before ]] ||
  fail "R: the router sent no destination unreachable"
[[ $(ns_nstat rs1 IcmpInDestUnreachs) -gt $rs_unreach_before ]] ||
  fail "R: the server received no destination unreachable"

# ---------------------------------------------------------------- D: dplbd's frag-needed
mtu_drops_before=$(dplbd_drop mtu_exceeded)
download D "$VIP_D" "$CLIENT_D" "$WAN1_MTU"
[[ $(dplbd_drop mtu_exceeded) -gt $mtu_drops_before ]] ||
  fail "D: dplbd's mtu_exceeded did not grow ($mtu_drops_before -> $(dplbd_drop mtu_exceeded))"

dplbadm --status | sed -n '/^drops:/,/^port/p'

# ---------------------------------------------------------------- stop
dplbd_stop
e2e_finish
