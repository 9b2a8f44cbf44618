#!/usr/bin/env bash
# End-to-end reload test: dplbd reloads under live traffic, in namespaces.
#
#   usage: reload_e2e_test.sh /path/to/dplbd /path/to/dplbadm   (root; 77 = skipped)
#
# Topology as tests/e2e/nat (client | dplbd on af_packet | bridge | rs1..rs3).
#
#   service  v1 (start)        v2 (SIGHUP)           v3 (dplbadm --reload)
#   web  :80  rs1 rs2          + rs3                 rs2 weight 3
#   long :7000 rs1 rs2 rs3     unchanged             unchanged
#   old  :81  rs3              removed               -
#   new  :82  -                added (rs2)           unchanged
#   dns  :53/udp rs1 rs2       unchanged             - rs2
#   dns2 :54/udp -             -                     added (rs1)
#
# Traffic across all reloads: six long-lived TCP connections to `long` (a
# line echoed by a server every 50 ms on each; each must stay on its server
# and never fail) and a loop of sequential curl requests to `web` (zero
# failures). Also checked: a reload of an invalid file (dplbadm --reload
# exits 1 and prints file:line:col, dplbd logs it, `-S -n` is unchanged);
# `--set` changes `-L --timeout` and a reload brings the file's values back;
# `--rate` shows web's connection rate in ipvsadm's layout; `-Z` zeroes
# `-L -n --stats` while dplbd's own totals keep counting.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/dplbd.sh
source "$HERE/../lib/dplbd.sh"

e2e_init reload "${1:-}" "${2:?usage: $0 /path/to/dplbd /path/to/dplbadm}"

readonly CLIENT=10.0.0.5
readonly WAN_ADDR=10.0.0.2
readonly VIP=10.0.0.100
readonly LAN_ADDR=10.0.1.2
readonly RS_ADDR=(10.0.1.11 10.0.1.12 10.0.1.13)
readonly LONG_CONNS=6
readonly CURL_PORT_BASE=22000 # sequential curl source ports (fresh 5-tuples)
readonly LONG_PORT_BASE=30000  # below the ephemeral range, clear of curl's

CONF=$WORK/dplb.yaml

# The clients end on their own once the stop file exists.
stop_clients() { touch "$WORK/stop" 2>/dev/null; }
e2e_at_exit stop_clients
# The clients' output without their progress lines.
client_diag() {
  local f
  for f in "$WORK"/long.out "$WORK"/curl.out; do
    [[ -f $f ]] || continue
    echo "---------- $(basename "$f") (last 40, without progress lines) ----------"
    grep -v '^progress ' "$f" | tail -n 40
  done
}
e2e_diag_cmd client_diag

# Polls CMD (bounded: N tries, 0.1 s apart) until it succeeds.
wait_for() {
  local tries=$1
  shift
  ns_poll "$tries" 0.1 "$@" >/dev/null 2>&1
}

# ---------------------------------------------------------------- topology
ns_add_all cl lb sw rs1 rs2 rs3
e2e_two_arm_topology "$CLIENT" "$LAN_ADDR" "${RS_ADDR[@]}"

# ---------------------------------------------------------------- servers
for i in 1 2 3; do
  http_whoami_server "rs$i" 8080
  # Line echo on 7000: answers "<name> <line>" on the same connection.
  ns_bg "rs$i" "$WORK/rs$i.long.log" "$PY" -u -c '
import socketserver, sys
name = sys.argv[1]
class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(name.encode() + b" " + line)
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer.daemon_threads = True
with socketserver.ThreadingTCPServer(("0.0.0.0", 7000), Echo) as s:
    s.serve_forever()
' "rs$i" >/dev/null
done
for i in 1 2 3; do
  ns_wait_tcp "rs$i" 127.0.0.1 7000 100
done

# ---------------------------------------------------------------- config
service() { # NAME PORT PROTO RSPORT SERVERS... (ADDR[:WEIGHT])
  dplbd_yaml_service "$1" "$VIP" "$2" "$3" rr nat "${@:4}"
}
write_config() { # VERSION (1, 2, 3; "bad" = v3 with a mistake)
  local v=$1
  {
    dplbd_yaml_dataplane "wan0=lbwan:$WAN_ADDR/24" "lan0=lblan:$LAN_ADDR/24"
    echo "  timeouts: { tcp_established: 900s, tcp_fin_wait: 120s, udp: 300s }"
    echo "services:"
    case $v in
      1) service web 80 tcp 8080 10.0.1.11 10.0.1.12 ;;
      2) service web 80 tcp 8080 10.0.1.11 10.0.1.12 10.0.1.13 ;;
      *) service web 80 tcp 8080 10.0.1.11 10.0.1.12:3 10.0.1.13 ;;
    esac
    service long 7000 tcp 7000 "${RS_ADDR[@]}"
    case $v in
      1) service old 81 tcp 8080 10.0.1.13 ;;
      *) service new 82 tcp 8080 10.0.1.12 ;;
    esac
    case $v in
      1 | 2) service dns 53 udp 9000 10.0.1.11 10.0.1.12 ;;
      *) service dns 53 udp 9000 10.0.1.11 ;;
    esac
    case $v in
      3) service dns2 54 udp 9000 10.0.1.11 ;;
      bad) service dns2 54 udp 9000 10.0.1.11 | sed 's/scheduler: rr/scheduler: rrr/' ;;
    esac
    dplbd_yaml_tail
  } >"$CONF.tmp"
  mv "$CONF.tmp" "$CONF"
}
# `dplbadm -L -n` lists VIP:PORT (PROTO upper case)?
listed() { dplbadm -L -n | grep -qE "^$1 +$VIP:$2 "; }
not_listed() { ! listed "$@"; }

write_config 1
dplbd_start "$CONF"
dplbd_wait_http 40 "http://$VIP:81/whoami"
# Warm up neighbour entries for every server (rr over two services).
e2e_warm_up 2 "http://$VIP/whoami"

# ---------------------------------------------------------------- traffic
# Long-lived connections: each sends "c<i> <n>" every 50 ms and expects
# "<server> c<i> <n>" back, the same server every time. Writes "ready" once
# all are connected, "progress <rounds>" now and then, and at the end one
# line per connection: "conn <i> <server> <rounds> <ok|error ...>".
ns_bg cl "$WORK/long.out" "$PY" -u -c '
import os, socket, sys, time
vip, n, base, client, stop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
conns = []
for i in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((client, base + i))
    s.settimeout(3)
    s.connect((vip, 7000))
    conns.append({"s": s, "f": s.makefile("rb"), "server": None, "rounds": 0, "error": None})
print("ready", flush=True)
rounds = 0
while not os.path.exists(stop):
    for i, c in enumerate(conns):
        if c["error"]:
            continue
        try:
            c["s"].sendall(b"c%d %d\n" % (i, c["rounds"]))
            words = c["f"].readline().decode().split()
            if len(words) != 3 or words[1:] != ["c%d" % i, str(c["rounds"])]:
                raise RuntimeError("bad answer %r" % words)
            if c["server"] is None:
                c["server"] = words[0]
            elif c["server"] != words[0]:
                raise RuntimeError("moved from %s to %s" % (c["server"], words[0]))
            c["rounds"] += 1
        except Exception as e:
            c["error"] = repr(e).replace(" ", "_")
    rounds += 1
    if rounds % 10 == 0:
        print("progress", rounds, flush=True)
    time.sleep(0.05)
for i, c in enumerate(conns):
    print("conn", i, c["server"], c["rounds"], c["error"] or "ok", flush=True)
' "$VIP" "$LONG_CONNS" "$LONG_PORT_BASE" "$CLIENT" "$WORK/stop" >/dev/null
LONG_PID=$!
ns_wait_file "$WORK/long.out" '^ready$' 100

# Sequential curl requests: "<n> <body> <code>" or "<n> FAIL <rc>".
# shellcheck disable=SC2016 # expands in the client shell
ns_bg cl "$WORK/curl.out" bash -c '
  vip=$1 base=$2 stop=$3
  for ((i = 0; i < 5000; i++)); do
    [[ -e $stop ]] && break
    if out=$(curl -sS --connect-timeout 2 --max-time 3 --local-port $((base + i)) \
        -w " %{http_code}" "http://$vip/whoami?n=$i" 2>&1); then
      echo "$i $out"
    else
      echo "$i FAIL $?"
    fi
  done' _ "$VIP" "$CURL_PORT_BASE" "$WORK/stop" >/dev/null
CURL_PID=$!

progress() { tail -n 50 "$WORK/long.out" | grep -oE '^progress [0-9]+' | tail -n 1 | cut -d' ' -f2; }
requests() {
  local n
  n=$(grep -c . "$WORK/curl.out" 2>/dev/null) || true
  echo "${n:-0}"
}
# Waits (bounded) until both kinds of traffic moved on by a few rounds.
traffic_moves() {
  local p0 r0
  p0=$(progress) r0=$(requests)
  wait_for 100 bash -c "[[ \$(tail -n 50 '$WORK/long.out' | grep -oE '^progress [0-9]+' | tail -n 1 | cut -d' ' -f2) -ge $((${p0:-0} + 20)) && \$(grep -c . '$WORK/curl.out') -ge $((r0 + 10)) ]]" ||
    fail "traffic stalled (long rounds ${p0:-0} -> $(progress), requests $r0 -> $(requests))"
}
traffic_moves

# ---------------------------------------------------------------- reloads
# v2 by SIGHUP: web gains rs3, old goes, new comes.
write_config 2
kill -HUP "$DPLBD_PID"
wait_for 100 listed TCP 82 || fail "v2: $VIP:82 not listed after SIGHUP"
wait_for 100 not_listed TCP 81 || fail "v2: $VIP:81 still listed after SIGHUP"
[[ $(dplbadm -L -n -t "$VIP:80" | grep -c -- '->.*:8080') -eq 3 ]] || fail "v2: web has not 3 servers"
traffic_moves

# v3 by dplbadm --reload: dns loses rs2, dns2 comes, web's rs2 weight 3.
write_config 3
dplbadm --reload || fail "v3: dplbadm --reload exited $?"
listed UDP 54 || fail "v3: $VIP:54/udp not listed"
[[ $(dplbadm -L -n -u "$VIP:53" | grep -c -- '->.*:9000') -eq 1 ]] || fail "v3: dns has not 1 server"
dplbadm -L -n -t "$VIP:80" | grep -qE -- '-> 10\.0\.1\.12:8080 +Masq +3 ' || fail "v3: rs2 weight not 3"
traffic_moves

# An invalid file: refused, reported, nothing changes.
dplbadm -S -n >"$WORK/save.before"
write_config bad
rc=0
dplbadm --reload 2>"$WORK/reload.err" || rc=$?
[[ $rc -eq 1 ]] || fail "invalid reload: dplbadm exited $rc, expected 1"
grep -qF "dplbadm: reload refused, nothing changed" "$WORK/reload.err" ||
  fail "invalid reload: no refusal message: $(cat "$WORK/reload.err")"
grep -qE "^  $CONF:[0-9]+:[0-9]+: services\[4\]\.scheduler: unknown scheduler \"rrr\"" "$WORK/reload.err" ||
  fail "invalid reload: no file:line:col error: $(cat "$WORK/reload.err")"
ns_wait_file "$WORK/dplbd.log" "reload of $CONF refused" 50 || fail "dplbd did not log the refusal"
ns_wait_file "$WORK/dplbd.log" "$CONF:[0-9]+:[0-9]+: services\[4\]\.scheduler" 50 ||
  fail "dplbd did not log the file:line:col error"
dplbadm -S -n >"$WORK/save.after"
cmp -s "$WORK/save.before" "$WORK/save.after" || fail "invalid reload changed the services"
traffic_moves

# --set, then a reload gives the file's timeouts back.
[[ $(dplbadm -L --timeout) == "Timeout (tcp tcpfin udp): 900 120 300" ]] ||
  fail "timeouts before --set: $(dplbadm -L --timeout)"
dplbadm --set 100 0 30 || fail "dplbadm --set exited $?"
[[ $(dplbadm -L --timeout) == "Timeout (tcp tcpfin udp): 100 120 30" ]] ||
  fail "timeouts after --set 100 0 30: $(dplbadm -L --timeout)"
write_config 3
kill -HUP "$DPLBD_PID"
timeouts_back() { [[ $(dplbadm -L --timeout) == "Timeout (tcp tcpfin udp): 900 120 300" ]]; }
wait_for 100 timeouts_back || fail "reload did not restore the file's timeouts: $(dplbadm -L --timeout)"
traffic_moves

# --rate: web's connections per second show up within a few 2 s ticks, in
# ipvsadm's layout (%-33s then " %8s" per rate).
# (a one-service listing has no version line: the service is the first
# line whose second field is VIP:PORT)
rate_shown() { [[ $(dplbadm -L -n --rate -t "$VIP:80" | awk -v s="$VIP:80" '$2 == s { print $3 }') -gt 0 ]]; }
wait_for 100 rate_shown ||
  fail "--rate: web shows no connection rate: $(dplbadm -L -n --rate -t "$VIP:80")"
dplbadm -L -n --rate >"$WORK/rate.out"
[[ $(sed -n 2p "$WORK/rate.out") == "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS" ]] ||
  fail "--rate title: '$(sed -n 2p "$WORK/rate.out")'"
[[ $(sed -n 3p "$WORK/rate.out") == "  -> RemoteAddress:Port" ]] || fail "--rate second title line"
while IFS= read -r line; do
  read -r -a f <<<"$line"
  if [[ ${f[0]} == "->" ]]; then
    want=$(printf '  -> %-28s %8s %8s %8s %8s %8s' "${f[1]}" "${f[@]:2:5}")
  else
    want=$(printf '%-33s %8s %8s %8s %8s %8s' "${f[0]}  ${f[1]}" "${f[@]:2:5}")
  fi
  [[ $line == "$want" ]] || fail "--rate line not in ipvsadm's layout: '$line'"
done < <(tail -n +4 "$WORK/rate.out")

# ---------------------------------------------------------------- results
touch "$WORK/stop"
# Both clients end on their own once they see the stop file.
wait_for 100 bash -c "! kill -0 $LONG_PID && ! kill -0 $CURL_PID" ||
  fail "clients did not stop within 10 s of the stop file"
rc=0
wait "$LONG_PID" || rc=$?
[[ $rc -eq 0 ]] || fail "long-lived client exited $rc"
wait "$CURL_PID" || true
requests_made=$(requests)
curl_fail=$(grep -c ' FAIL ' "$WORK/curl.out" || true)
curl_ok=$(grep -cE '^[0-9]+ rs[123] 200$' "$WORK/curl.out" || true)
[[ $curl_fail -eq 0 && $curl_ok -eq $requests_made && $curl_ok -ge 50 ]] ||
  fail "curl loop: $curl_ok ok, $curl_fail failed of $requests_made"
grep -qE '^[0-9]+ rs3 200$' "$WORK/curl.out" || fail "web never used rs3 after it was added"
survivors=0
while read -r _ i server rounds status; do
  if [[ $status == ok && $server =~ ^rs[123]$ && $rounds -ge 50 ]]; then
    survivors=$((survivors + 1))
  else
    fail "long-lived connection $i: server $server, $rounds rounds, $status"
  fi
done < <(grep '^conn ' "$WORK/long.out")
[[ $survivors -eq $LONG_CONNS ]] || fail "$survivors of $LONG_CONNS long-lived connections survived"
echo "traffic across 4 reloads: $curl_ok/$requests_made curl requests ok, $survivors/$LONG_CONNS long-lived connections alive"

# -Z: the listed counters restart; dplbd's own totals do not. First let the
# closing handshakes of the stopped clients pass (counters stand still).
stats_still() {
  local a
  a=$(dplbadm -L -n --stats --exact)
  sleep 0.3
  [[ $a == "$(dplbadm -L -n --stats --exact)" ]]
}
wait_for 30 stats_still || fail "counters keep moving after the clients stopped"
dplbadm -Z || fail "dplbadm -Z exited $?"
nonzero=$(dplbadm -L -n --stats | tail -n +4 | awk '{ for (i = NF - 4; i <= NF; i++) if ($i != "0") print }')
[[ -z $nonzero ]] || fail "-L -n --stats after -Z: $nonzero"
ns_exec cl curl -sf --connect-timeout 2 --max-time 3 -o /dev/null "http://$VIP/whoami" || fail "request after -Z"
web_stats=$(dplbadm -L -n --stats -t "$VIP:80" | grep -E "^TCP +$VIP:80 ")
[[ $(awk '{ print $3 }' <<<"$web_stats") == 1 ]] || fail "web after -Z and one request: $web_stats"

dplbd_stop
conns=$(dplbd_stopped_line | grep -oE '[0-9]+ connections' | cut -d' ' -f1 || true)
[[ -n $conns && $conns -ge $((requests_made + LONG_CONNS + 1)) ]] ||
  fail "dplbd's total connections ${conns:-?} < $((requests_made + LONG_CONNS + 1)) (zeroed?)"
[[ $(grep -c 'reload: .* service(s) active' "$WORK/dplbd.log") -ge 3 ]] || fail "dplbd logged fewer than 3 reloads"
e2e_finish
