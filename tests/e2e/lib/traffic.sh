#!/usr/bin/env bash
# Servers, clients and their tallies for dplb's e2e tests. Sourced by
# dplbd.sh (uses its $WORK, $PY and fail). The real servers are the
# namespaces rs1..rs3 and each names itself in its answers.
#
#   http_whoami_server NS PORT        python http.server in NS on 0.0.0.0:PORT
#                                     whose /whoami is NS; log $WORK/NS.http.log;
#                                     returns once it accepts connections
#   udp_echo_server NS ADDR PORT [--len]
#                                     udp_echo.py in NS (log $WORK/NS.udp.log);
#                                     returns once it is bound
#   http_request_loop VIP N PORT_BASE from cl: N GETs of http://VIP/whoami?n=I,
#                                     each a new connection from PORT_BASE+I;
#                                     prints "I BODY CODE IP:PORT" or "I FAIL RC
#                                     ..." a line, gives up after 3 failures
#   http_tally FILE VIP:PORT N        read that output: fail() for each bad line
#                                     and unless all N were answered by rs1..rs3
#                                     from VIP:PORT; sets HTTP_OK, HTTP_COUNT[rsI],
#                                     HTTP_ANSWERED[rsI] (request numbers),
#                                     HTTP_ORDER[I] (who answered request I)
#   http_check_windows N W1 W2 W3     (all N answered) every window of W1+W2+W3
#                                     consecutive requests went W1 times to rs1,
#                                     W2 to rs2, W3 to rs3: one worker makes
#                                     rr and wrr periodic
#   http_check_server_logs CLIENT     rs1..rs3 each logged exactly the requests
#                                     answered with its name, all from CLIENT
#   pcap_start PCAP FILTER            tcpdump on cl's eth0 into PCAP (Ethernet
#                                     headers kept); returns once it listens
#   pcap_wait_stop PCAP MIN           wait (bounded) until the capture holds MIN
#                                     packets, then stop that tcpdump
#   pcap_src_macs PCAP                the source MAC of each captured frame
#   replies_bypass_lb VIP LB_MAC PCAP MIN MAC...
#                                     (DR, TUN) the client's neighbour entry for
#                                     VIP is LB_MAC, yet every frame in PCAP came
#                                     from one of MAC..., and at least MIN did
#   expect_one_way FILE REGEX WHAT MIN_CONNS MIN_INPKTS
#                                     the counters on REGEX's line of saved
#                                     `dplbadm -L -n --stats --exact` output show
#                                     at least MIN_CONNS and MIN_INPKTS, and no
#                                     OutPkts (dplbd saw no reply)
#   stats_counters FILE REGEX         "CONNS INPKTS OUTPKTS" of the line matching
#                                     REGEX in saved `dplbadm -L -n --stats` output

http_whoami_server() {
  local ns=$1 port=$2
  mkdir -p "$WORK/www/$ns"
  printf '%s' "$ns" >"$WORK/www/$ns/whoami"
  ns_bg "$ns" "$WORK/$ns.http.log" \
    "$PY" -u -m http.server "$port" --bind 0.0.0.0 --directory "$WORK/www/$ns" >/dev/null
  ns_wait_tcp "$ns" 127.0.0.1 "$port" 100
}

udp_echo_server() {
  local ns=$1
  shift
  ns_bg "$ns" "$WORK/$ns.udp.log" "$PY" -u "$E2E_LIB/udp_echo.py" "$ns" "$@" >/dev/null
  ns_wait_file "$WORK/$ns.udp.log" '^ready$' 100
}

http_request_loop() {
  # shellcheck disable=SC2016 # the loop's variables expand in the client's shell
  ns_exec cl bash -c '
    set -f
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
    done' _ "$1" "$2" "$3"
}

http_tally() {
  local file=$1 peer=$2 want=$3 n body code remote rest
  HTTP_OK=0
  HTTP_ORDER=()
  declare -gA HTTP_COUNT=([rs1]=0 [rs2]=0 [rs3]=0)
  declare -gA HTTP_ANSWERED=()
  while read -r n body code remote rest; do
    if [[ $body =~ ^rs[123]$ && $code == 200 && $remote == "$peer" && -z ${rest:-} ]]; then
      HTTP_OK=$((HTTP_OK + 1))
      HTTP_COUNT[$body]=$((HTTP_COUNT[$body] + 1))
      HTTP_ANSWERED[$body]+=" $n"
      HTTP_ORDER[n]=$body
    else
      fail "HTTP request $n: $body $code $remote ${rest:-}"
    fi
  done <"$file"
  [[ $HTTP_OK -eq $want ]] || fail "HTTP: $HTTP_OK of $want requests answered"
  echo "HTTP: $HTTP_OK/$want answered; rs1=${HTTP_COUNT[rs1]} rs2=${HTTP_COUNT[rs2]} rs3=${HTTP_COUNT[rs3]}"
}

http_check_windows() {
  local n=$1 period=0 want="" i c got
  shift
  for ((i = 1; i <= $#; i++)); do
    period=$((period + ${!i}))
    want+="rs$i=${!i} "
  done
  [[ $HTTP_OK -eq $n ]] || return 0
  for ((c = 0; c < n / period; c++)); do
    got=$(printf '%s\n' "${HTTP_ORDER[@]:c*period:period}" | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')
    [[ $got == "$want" ]] ||
      fail "split window $c (requests $((c * period))..$((c * period + period - 1))): $got, expected $want"
  done
}

http_check_server_logs() {
  local client=$1 i logged total from_client want have
  for i in 1 2 3; do
    logged=$(grep -E '"GET /whoami\?n=[0-9]+ HTTP/1\.1" 200' "$WORK/rs$i.http.log" || true)
    total=$(grep -c . <<<"$logged" || true)
    from_client=$(grep -cE "^${client//./\\.} - - " <<<"$logged" || true)
    [[ $total -eq ${HTTP_COUNT[rs$i]} && $from_client -eq $total ]] ||
      fail "rs$i log: $total requests, $from_client from $client; expected ${HTTP_COUNT[rs$i]}, all from $client"
    want=$(tr ' ' '\n' <<<"${HTTP_ANSWERED[rs$i]:-}" | grep . | sort -n | tr '\n' ' ' || true)
    have=$(sed -nE 's/.*"GET \/whoami\?n=([0-9]+) .*/\1/p' <<<"$logged" | sort -n | tr '\n' ' ' || true)
    [[ $want == "$have" ]] || fail "rs$i logged requests {$have}, answered {$want}"
  done
}

_pcap_holds() { [[ $(tcpdump -n -r "$1" 2>/dev/null | wc -l) -ge $2 ]]; }

PCAP_PID=""

pcap_start() {
  ns_bg cl "$1.log" tcpdump -n -U --immediate-mode -i eth0 -w "$1" "$2" >/dev/null
  PCAP_PID=$!
  ns_wait_file "$1.log" 'listening' 50
}

pcap_wait_stop() {
  ns_poll 50 0.1 _pcap_holds "$1" "$2" || true
  ns_stop "$PCAP_PID" 50 || true
}

pcap_src_macs() { tcpdump -n -e -r "$1" 2>/dev/null | awk '{print $2}'; }

stats_counters() { grep -E "$2" "$1" | awk '{print $3, $4, $5}' || true; }

replies_bypass_lb() {
  local vip=$1 lb_mac=$2 pcap=$3 min=$4 neigh mac replies=0
  shift 4
  neigh=$(ns_neigh_mac cl "$vip" eth0)
  [[ $neigh == "$lb_mac" ]] || fail "client's neighbour entry for $vip is '$neigh', not dplbd's $lb_mac"
  while read -r mac; do
    if [[ " $* " == *" $mac "* ]]; then
      replies=$((replies + 1))
    else
      fail "a packet from $vip reached the client from MAC $mac, not one of $*"
    fi
  done < <(pcap_src_macs "$pcap")
  [[ $replies -ge $min ]] ||
    fail "client captured $replies packets from $vip from $*, expected at least $min"
  echo "client: $replies packets from $vip, all from $* (dplbd's is $lb_mac)"
}

expect_one_way() {
  local file=$1 regex=$2 what=$3 min_conns=$4 min_in=$5 conns inpkts outpkts
  read -r conns inpkts outpkts < <(stats_counters "$file" "$regex") || true
  [[ ${conns:-0} -ge $min_conns && ${inpkts:-0} -ge $min_in && ${outpkts:-x} == 0 ]] ||
    fail "$what counters: Conns ${conns:-?} InPkts ${inpkts:-?} OutPkts ${outpkts:-?};" \
      "expected Conns >= $min_conns, InPkts >= $min_in, OutPkts 0"
}
