#!/usr/bin/env bash
# End-to-end health checks through dplbd: quiesce and return, NodePort
# fronting with a fake kube-proxy, quorum and the sorry server.
#
#   usage: health_e2e_test.sh /path/to/dplbd /path/to/dplbadm   (root; 77 = skipped)
#
#   cl (client)             lb (dplbd)                         sw (bridge)     rs1..rs3
#   eth0 10.0.0.5/24 ---- lbwan  [wan0 10.0.0.2, TAP wan0]     br0 --------- eth0 10.0.1.1x/24
#                                [VIP 10.0.0.100]                             default via 10.0.1.2
#                         lblan  [lan0 10.0.1.2, TAP lan0] -- swlb
#
# As in tests/e2e/nat, dplbd owns lbwan and lblan (no kernel address, no
# forwarding). Health probes are ordinary kernel sockets of the lb namespace
# and, as in production, reach the real servers through the exception path
# (on by default): the kernel's only way to 10.0.1.0/24 is TAP lan0, whose
# output dplbd sends out of its port lan0; the answers come back through
# dplbd to the TAP. The lb namespace has no other link to the servers, and
# its kernel ignores the veths dplbd owns (ns_dpdk_owned, as in
# tests/e2e/exception). The servers' logs show the probes coming from lan0's
# address 10.0.1.2.
#
# Every real server runs hc_server.py: a keep-alive HTTP/1.1 server whose
# /healthz answers 503 while a flag file exists, and a fake kube-proxy health
# endpoint (200 {"localEndpoints":1} or 503 {"localEndpoints":0}, from a file).
#
# Services (NAT, rr):
#   web    VIP:80 -> rs1..rs3:8080   http /healthz, 200ms/150ms, rise 2, fall 2
#   probe  VIP:81 -> rs1..rs3:8080   unchecked; start-up polling only
#   k8s    VIP:82 -> nodes rs1..rs3:30080, nodeport check on :32000
#   app    VIP:83 -> rs1..rs2:8083   tcp check, quorum 1, sorry server rs3:8090
#
# Checks: a server whose health check fails (503 from a live process, then a
# stopped process) is quiesced within fall x interval + timeout (dplbd's log
# time) and visible as weight 0 in `dplbadm -L -n` and as down with its reason
# in `dplbadm --status`; new connections never reach it while a long-lived
# keep-alive connection to the quiesced-but-alive server keeps working; both
# return after rise probes. A node whose kube-proxy says 503 leaves the
# NodePort service and returns. With every app server down, the sorry server
# answers; it leaves when one server is back.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/dplbd.sh
source "$HERE/../lib/dplbd.sh"

e2e_init health "${1:-}" "${2:?usage: $0 /path/to/dplbd /path/to/dplbadm}"
e2e_need_tun
SERVER_PY="$HERE/hc_server.py"

readonly CLIENT=10.0.0.5
readonly WAN_ADDR=10.0.0.2
readonly VIP=10.0.0.100
readonly LAN_ADDR=10.0.1.2
readonly RS_ADDR=(10.0.1.11 10.0.1.12 10.0.1.13)
# Health check timing of the checked services (ms) and counts.
readonly INTERVAL_MS=200 TIMEOUT_MS=150 RISE=2 FALL=2
# Allowed lateness of a transition beyond fall x interval + timeout (or
# rise x interval + timeout): thread wake-ups and process start on a shared
# 2-core machine.
readonly SLACK_MS=500

LL_PID=""
declare -A PIDS=()
readonly SERVER_KEYS=(web1 web2 web3 node1 node2 node3 kp1 kp2 kp3 app1 app2 sorry)
e2e_diag_file "$WORK/ll.log"
for key in "${SERVER_KEYS[@]}"; do
  e2e_diag_file "$WORK/$key.srv.log"
done
# The long-lived client reads fd 7 (below); closing it lets it end.
close_ll() { exec 7>&-; }
e2e_at_exit close_ll

now_ms() { date +%s%3N; }

# ---------------------------------------------------------------- topology
ns_add_all cl lb sw rs1 rs2 rs3
e2e_two_arm_topology "$CLIENT" "$LAN_ADDR" "${RS_ADDR[@]}"
ns_dpdk_owned lb lbwan lblan
e2e_expect_no_kernel_addr lb lbwan lblan
[[ $FAILS -eq 0 ]] || exit 1

# ---------------------------------------------------------------- servers
# start_server KEY NS ARGS...: runs hc_server.py, remembers its PID as KEY.
start_server() {
  local key=$1 ns=$2
  shift 2
  : >"$WORK/$key.srv.log"
  ns_bg "$ns" "$WORK/$key.srv.log" "$PY" -u "$SERVER_PY" "$@" >/dev/null
  PIDS[$key]=$!
}
wait_ready() { ns_wait_file "$WORK/$1.srv.log" '^ready$' 100; }
stop_server() {
  local rc=0
  ns_stop "${PIDS[$1]}" 50 || rc=$?
  # SIGTERM ends python with 143 (or -15): expected here.
  [[ $rc -eq 0 || $rc -eq 143 || $rc -eq 124 ]] || true
}

for i in 1 2 3; do
  start_server "web$i" "rs$i" web "rs$i" 8080 "$WORK/rs$i.unhealthy"
  start_server "node$i" "rs$i" web "node$i" 30080 "$WORK/none"
  echo 1 >"$WORK/node$i.local"
  start_server "kp$i" "rs$i" kube-proxy 32000 "$WORK/node$i.local"
done
start_server app1 rs1 web app1 8083 "$WORK/none"
start_server app2 rs2 web app2 8083 "$WORK/none"
start_server sorry rs3 web sorry 8090 "$WORK/none"
for key in "${SERVER_KEYS[@]}"; do
  wait_ready "$key"
done

# ---------------------------------------------------------------- dplbd
CHECK="interval: ${INTERVAL_MS}ms, timeout: ${TIMEOUT_MS}ms, rise: $RISE, fall: $FALL"
cat >"$WORK/dplb.yaml" <<EOF
$(dplbd_yaml_dataplane --exception-path "wan0=lbwan:$WAN_ADDR/24" "lan0=lblan:$LAN_ADDR/24")
services:
  - name: web
    vip: $VIP
    port: 80
    scheduler: rr
    forward: nat
    health_check: { type: http, path: /healthz, $CHECK }
    real_servers:
      - { address: ${RS_ADDR[0]}, port: 8080 }
      - { address: ${RS_ADDR[1]}, port: 8080 }
      - { address: ${RS_ADDR[2]}, port: 8080 }
  - name: probe
    vip: $VIP
    port: 81
    scheduler: rr
    forward: nat
    real_servers:
      - { address: ${RS_ADDR[0]}, port: 8080 }
      - { address: ${RS_ADDR[1]}, port: 8080 }
      - { address: ${RS_ADDR[2]}, port: 8080 }
  - name: k8s
    vip: $VIP
    port: 82
    scheduler: rr
    forward: nat
    nodeport:
      port: 30080
      health_check_node_port: 32000
      nodes: [${RS_ADDR[0]}, ${RS_ADDR[1]}, ${RS_ADDR[2]}]
    health_check: { type: nodeport, $CHECK }
  - name: app
    vip: $VIP
    port: 83
    scheduler: rr
    forward: nat
    quorum: 1
    sorry_server: { address: ${RS_ADDR[2]}, port: 8090 }
    health_check: { type: tcp, $CHECK }
    real_servers:
      - { address: ${RS_ADDR[0]}, port: 8083 }
      - { address: ${RS_ADDR[1]}, port: 8083 }
$(dplbd_yaml_tail)
EOF
dplbd_start "$WORK/dplb.yaml"
dplbd_wait_http 40 "http://$VIP:81/whoami"
if grep -q "no kernel interface" "$WORK/dplbd.log"; then
  fail "dplbd made no TAP: $(grep 'no kernel interface' "$WORK/dplbd.log")"
  exit 1
fi
e2e_warm_up 3 "http://$VIP:81/whoami"

# ---------------------------------------------------------------- helpers
# weight_of PORT SERVER: the server's weight under TCP VIP:PORT in
# `dplbadm -L -n`, "absent" when it is not listed. (The whole table is read:
# dplbd's list request does not filter by service yet.)
weight_of() {
  dplbadm -L -n 2>/dev/null | awk -v v="$VIP:$1" -v s="$2" '
    $1 == "TCP" || $1 == "UDP" { svc = $2 }
    $1 == "->" && svc == v && $2 == s { print $4; f = 1 }
    END { if (!f) print "absent" }'
}
# status_line PORT SERVER: the server's line of `dplbadm --status`.
status_line() {
  dplbadm --status 2>/dev/null | grep -F " $VIP:$1 -> $2 " || true
}
# wait_for DESC TRIES CMD...: polls CMD every 0.05 s (bounded).
wait_for() {
  local desc=$1 tries=$2
  shift 2
  ns_poll "$tries" 0.05 "$@" || {
    fail "timeout waiting for: $desc"
    return 1
  }
}
weight_is() { [[ $(weight_of "$1" "$2") == "$3" ]]; }
status_matches() { [[ $(status_line "$1" "$2") =~ $3 ]]; }
# log_time_ms REGEX: dplbd's log time (ms since the epoch) of the last
# matching line.
log_time_ms() {
  local line
  line=$(grep -E -- "$1" "$WORK/dplbd.log" | tail -n 1 || true)
  [[ -n $line ]] || {
    echo 0
    return
  }
  date -d "$(sed -E 's/^\[([^]]+)\].*/\1/' <<<"$line")" +%s%3N
}
# expect_within WHAT START_MS EVENT_MS MIN_MS BOUND_MS: the event came at
# least MIN_MS (dampening: the first of `fall` or `rise` probes may come at
# once, the last one (count - 1) intervals later) and at most BOUND_MS after
# the start.
expect_within() {
  local what=$1 start=$2 event=$3 min=$4 bound=$5
  if [[ $event -eq 0 ]]; then
    fail "$what: no log line"
  elif ((event - start > bound || event - start < min)); then
    fail "$what after $((event - start)) ms, expected within $min..$bound ms"
  else
    echo "$what after $((event - start)) ms (expected $min..$bound ms)"
  fi
}
readonly FALL_MIN=$(((FALL - 1) * INTERVAL_MS)) RISE_MIN=$(((RISE - 1) * INTERVAL_MS))
readonly FALL_MAX=$((FALL * INTERVAL_MS + TIMEOUT_MS + SLACK_MS))
readonly RISE_MAX=$((RISE * INTERVAL_MS + TIMEOUT_MS + SLACK_MS))
# requests PORT N: N fresh connections through VIP:PORT; prints one body per
# line ("FAIL" for a failed request).
requests() {
  # shellcheck disable=SC2016 # expands in the client's shell
  ns_exec cl bash -c 'for ((i = 0; i < $3; i++)); do
      curl -sS --connect-timeout 2 --max-time 3 "http://$1:$2/whoami" || echo -n FAIL
      echo
    done' _ "$VIP" "$1" "$2" 2>/dev/null
}
count_of() { grep -cx -- "$2" <<<"$1" || true; }

# Every checked server is up and probed before the scenarios start.
for i in 0 1 2; do
  wait_for "web ${RS_ADDR[i]} probed ok" 100 status_matches 80 "${RS_ADDR[i]}:8080" ' up http weight 1/1 .* last ok '
  wait_for "k8s ${RS_ADDR[i]} probed ok" 100 status_matches 82 "${RS_ADDR[i]}:30080" \
    ' up nodeport weight 1/1 .* last ok .*localEndpoints 1'
done
for i in 0 1; do
  wait_for "app ${RS_ADDR[i]} probed ok" 100 status_matches 83 "${RS_ADDR[i]}:8083" ' up tcp weight 1/1 .* last ok '
done
# The probes came through TAP lan0 and dplbd's port: from lan0's address.
for i in 1 2 3; do
  grep -q "^$LAN_ADDR /healthz " "$WORK/web$i.srv.log" ||
    fail "rs$i saw no /healthz probe from $LAN_ADDR: $(tail -n 3 "$WORK/web$i.srv.log" | tr '\n' ' ')"
done
[[ $FAILS -eq 0 ]] || exit 1

# ---------------------------------------------------------------- web: quiesce
# A long-lived keep-alive connection: one request per line written to fd 7.
mkfifo "$WORK/ll.in"
exec 7<>"$WORK/ll.in"
# Started directly (not with ns_bg): its stdin is the FIFO. Registered for
# the cleanup like ns_bg's processes.
# shellcheck disable=SC2016
ip netns exec "$(ns_name cl)" "$PY" -u -c '
import http.client, sys
c = http.client.HTTPConnection(sys.argv[1], 80, timeout=3)
for line in sys.stdin:
    try:
        c.request("GET", "/whoami")
        r = c.getresponse()
        print(r.read().decode(), flush=True)
    except Exception as e:
        print("ERR", type(e).__name__, e, flush=True)
' "$VIP" <"$WORK/ll.in" >"$WORK/ll.log" 2>&1 &
LL_PID=$!
NS_PIDS+=("$LL_PID")
LL_N=0
# ll_request: one request on the long-lived connection; the answer (its
# line of ll.log) goes to LL_GOT. Not called in $(...): LL_N must persist.
ll_request() {
  LL_N=$((LL_N + 1))
  LL_GOT=TIMEOUT
  echo req >&7
  local i n
  for ((i = 0; i < 60; i++)); do
    n=$(grep -c . "$WORK/ll.log" 2>/dev/null || true)
    if [[ ${n:-0} -ge $LL_N ]]; then
      LL_GOT=$(sed -n "${LL_N}p" "$WORK/ll.log")
      return
    fi
    sleep 0.05
  done
}
ll_request
A=$LL_GOT
[[ $A =~ ^rs[123]$ ]] || {
  fail "long-lived connection: first answer '$A'"
  exit 1
}
a=${A#rs}
b=$((a % 3 + 1))
c=$((b % 3 + 1))
A_ADDR=${RS_ADDR[a - 1]} B_ADDR=${RS_ADDR[b - 1]}
echo "long-lived connection on rs$a; rs$a turns unhealthy, rs$b stops, rs$c carries new connections"

# rs$a answers 503 on /healthz but keeps serving: quiesced, connections live on.
t0=$(now_ms)
touch "$WORK/rs$a.unhealthy"
wait_for "rs$a weight 0 in -L" 100 weight_is 80 "$A_ADDR:8080" 0
wait_for "rs$a down in --status" 100 status_matches 80 "$A_ADDR:8080" \
  ' down http weight 0/1 .* last fail .*: unexpected status 503'
expect_within "rs$a (503) quiesced" "$t0" \
  "$(log_time_ms "service web server $A_ADDR:8080 DOWN after $FALL failures: unexpected status 503")" \
  "$FALL_MIN" "$FALL_MAX"
ll_request
[[ $LL_GOT == "rs$a" ]] || fail "long-lived connection after rs$a was quiesced: '$LL_GOT'"

# rs$b's HTTP process stops: connection refused.
t0=$(now_ms)
stop_server "web$b"
wait_for "rs$b weight 0 in -L" 100 weight_is 80 "$B_ADDR:8080" 0
wait_for "rs$b down in --status" 100 status_matches 80 "$B_ADDR:8080" \
  ' down http weight 0/1 .* last fail .*: connection refused'
expect_within "rs$b (stopped) quiesced" "$t0" \
  "$(log_time_ms "service web server $B_ADDR:8080 DOWN after $FALL failures: connection refused")" \
  "$FALL_MIN" "$FALL_MAX"

# New connections: all to rs$c, none to the quiesced servers.
out=$(requests 80 12)
[[ $(count_of "$out" "rs$c") -eq 12 ]] ||
  fail "with rs$a and rs$b quiesced, 12 new requests were answered: $(tr '\n' ' ' <<<"$out")"
ll_request
[[ $LL_GOT == "rs$a" ]] || fail "long-lived connection while rs$a and rs$b are quiesced: '$LL_GOT'"

# A reload keeps the state of servers whose check did not change: both stay
# quiesced, not one transition more.
dplbadm --reload || fail "dplbadm --reload"
weight_is 80 "$A_ADDR:8080" 0 || fail "after a reload rs$a has weight $(weight_of 80 "$A_ADDR:8080")"
weight_is 80 "$B_ADDR:8080" 0 || fail "after a reload rs$b has weight $(weight_of 80 "$B_ADDR:8080")"
status_matches 80 "$B_ADDR:8080" ' down http weight 0/1 ' ||
  fail "after a reload: $(status_line 80 "$B_ADDR:8080")"

# Both return after rise probes.
t0=$(now_ms)
rm -f "$WORK/rs$a.unhealthy"
start_server "web$b" "rs$b" web "rs$b" 8080 "$WORK/rs$b.unhealthy"
wait_ready "web$b"
wait_for "rs$a weight back in -L" 100 weight_is 80 "$A_ADDR:8080" 1
wait_for "rs$b weight back in -L" 100 weight_is 80 "$B_ADDR:8080" 1
wait_for "rs$b up in --status" 100 status_matches 80 "$B_ADDR:8080" ' up http weight 1/1 .* last ok '
expect_within "rs$a back" "$t0" \
  "$(log_time_ms "service web server $A_ADDR:8080 UP after $RISE successes")" \
  "$RISE_MIN" "$RISE_MAX"
out=$(requests 80 12)
for i in 1 2 3; do
  [[ $(count_of "$out" "rs$i") -eq 4 ]] ||
    fail "after the return, rr over 12 new requests: $(tr '\n' ' ' <<<"$out")"
done
ll_request
[[ $LL_GOT == "rs$a" ]] || fail "long-lived connection after the return: '$LL_GOT'"
exec 7>&-
ns_stop "$LL_PID" 50 || true
[[ $(grep -cx "rs$a" "$WORK/ll.log" || true) -eq 4 && $LL_N -eq 4 ]] ||
  fail "long-lived connection: $LL_N requests, answers: $(tr '\n' ' ' <"$WORK/ll.log")"
echo "web: quiesce and return OK; the long-lived connection answered $LL_N requests from rs$a"

# ---------------------------------------------------------------- NodePort
t0=$(now_ms)
echo 0 >"$WORK/node2.local"
wait_for "node2 weight 0 in -L" 100 weight_is 82 "${RS_ADDR[1]}:30080" 0
wait_for "node2 down in --status" 100 status_matches 82 "${RS_ADDR[1]}:30080" \
  ' down nodeport weight 0/1 .* last fail .*: unexpected status 503 \(localEndpoints 0\)'
expect_within "node2 (kube-proxy 503) left" "$t0" \
  "$(log_time_ms "service k8s server ${RS_ADDR[1]}:30080 DOWN after $FALL failures")" \
  "$FALL_MIN" "$FALL_MAX"
out=$(requests 82 8)
[[ $(count_of "$out" node1) -eq 4 && $(count_of "$out" node3) -eq 4 ]] ||
  fail "k8s without node2, 8 new requests: $(tr '\n' ' ' <<<"$out")"
echo 1 >"$WORK/node2.local"
wait_for "node2 weight back in -L" 100 weight_is 82 "${RS_ADDR[1]}:30080" 1
out=$(requests 82 9)
for i in 1 2 3; do
  [[ $(count_of "$out" "node$i") -eq 3 ]] ||
    fail "k8s after node2 returned, 9 new requests: $(tr '\n' ' ' <<<"$out")"
done
echo "NodePort: node2 left on 503 and returned on 200 OK"

# ---------------------------------------------------------------- sorry server
stop_server app1
stop_server app2
wait_for "sorry server in -L" 100 weight_is 83 "${RS_ADDR[2]}:8090" 1
wait_for "app servers quiesced" 100 weight_is 83 "${RS_ADDR[0]}:8083" 0
weight_is 83 "${RS_ADDR[1]}:8083" 0 || fail "app2 weight $(weight_of 83 "${RS_ADDR[1]}:8083"), expected 0"
sorry_active() {
  dplbadm --status | grep -q "TCP $VIP:83 (app): live weight 0, quorum 1: sorry server active"
}
wait_for "sorry line in --status" 40 sorry_active
out=$(requests 83 3)
[[ $(count_of "$out" sorry) -eq 3 ]] || fail "below quorum, 3 requests: $(tr '\n' ' ' <<<"$out")"
grep -q "service app lost quorum" "$WORK/dplbd.log" || fail "no 'lost quorum' log line"
start_server app1 rs1 web app1 8083 "$WORK/none"
wait_ready app1
wait_for "sorry server gone from -L" 100 weight_is 83 "${RS_ADDR[2]}:8090" absent
out=$(requests 83 2)
[[ $(count_of "$out" app1) -eq 2 ]] || fail "quorum back, 2 requests: $(tr '\n' ' ' <<<"$out")"
echo "sorry server: took over below quorum and left when quorum returned OK"

# ---------------------------------------------------------------- stop
dplbd_stop
# Each transition was logged once.
downs=$(grep -c "service web server $A_ADDR:8080 DOWN" "$WORK/dplbd.log" || true)
[[ $downs -eq 1 ]] || fail "rs$a's DOWN was logged $downs times"
e2e_finish
