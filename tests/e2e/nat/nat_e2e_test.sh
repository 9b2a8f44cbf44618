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
# shellcheck source=SCRIPTDIR/../lib/netns.sh
source "$HERE/../lib/netns.sh"

DPLBD=${1:?usage: $0 /path/to/dplbd}
ns_init
DPLBD=$(readlink -f "$DPLBD")
[[ -x $DPLBD ]] || {
  echo "dplbd not found or not executable: $DPLBD" >&2
  exit 1
}
for tool in ip ethtool curl; do
  command -v "$tool" >/dev/null || {
    echo "missing tool: $tool" >&2
    exit 1
  }
done
# The system interpreter: a pyenv/venv shim may not work inside `ip netns exec`.
PY=${PYTHON3:-$(command -v /usr/bin/python3 || command -v python3)}

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

WORK=$(mktemp -d /tmp/dplb-e2e-nat.XXXXXX)
EAL_PREFIX="dplb-e2e-nat-$$"
DPLBD_PID=""
FAILS=0

fail() {
  echo "FAIL: $*" >&2
  FAILS=$((FAILS + 1))
}

dump_diagnostics() {
  echo "==================== diagnostics (work dir $WORK) ====================" >&2
  if [[ -f $WORK/dplbd.log ]]; then
    echo "---------- dplbd.log ----------" >&2
    head -n 300 "$WORK/dplbd.log" >&2
  fi
  for f in "$WORK"/http.out "$WORK"/udp.out; do
    [[ -f $f ]] || continue
    echo "---------- $(basename "$f") (last 40) ----------" >&2
    tail -n 40 "$f" >&2
  done
  for i in 1 2 3; do
    for f in "$WORK/rs$i.http.log" "$WORK/rs$i.udp.log"; do
      [[ -f $f ]] || continue
      echo "---------- $(basename "$f") (last 10) ----------" >&2
      tail -n 10 "$f" >&2
    done
  done
  echo "---------- interfaces ----------" >&2
  for ns in cl lb rs1; do
    ip -n "$(ns_name $ns)" -s link show 2>/dev/null | sed "s/^/$ns: /" >&2 || true
    ip -n "$(ns_name $ns)" neigh show 2>/dev/null | sed "s/^/$ns neigh: /" >&2 || true
  done
  echo "======================================================================" >&2
}

on_exit() {
  local rc=$?
  if [[ -n $DPLBD_PID ]] && kill -0 "$DPLBD_PID" 2>/dev/null; then
    kill -TERM "$DPLBD_PID" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 ]]; then
    dump_diagnostics
  fi
  ns_cleanup
  rm -rf "/var/run/dpdk/$EAL_PREFIX"
  if [[ $rc -ne 0 || ${DPLB_E2E_TCPDUMP:-0} == 1 ]]; then
    echo "logs kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap on_exit EXIT

# ---------------------------------------------------------------- topology
for ns in cl lb sw rs1 rs2 rs3; do
  ns_add "$ns"
  ns_no_ipv6 "$ns"
done
ns_link cl eth0 lb lbwan
ns_link lb lblan sw swlb
for i in 1 2 3; do
  ns_link "rs$i" eth0 sw "swrs$i"
done
ns_bridge sw br0 swlb swrs1 swrs2 swrs3

ns_exec lb sysctl -qw net.ipv4.ip_forward=0
ns_addr cl eth0 "$CLIENT/24"
for i in 1 2 3; do
  ns_addr "rs$i" eth0 "${RS_ADDR[i - 1]}/24"
  ip -n "$(ns_name "rs$i")" route add default via "$LAN_ADDR"
done

# What the topology promises (ns_link does not fail on ethtool errors): the
# kernel of the lb namespace neither owns an address on dplbd's interfaces nor
# forwards, and no veth end offloads checksums or segmentation.
[[ $(ns_exec lb sysctl -n net.ipv4.ip_forward) == 0 ]] || fail "ip_forward is on in lb"
for dev in lbwan lblan; do
  [[ -z $(ip -n "$(ns_name lb)" -4 -o addr show dev "$dev") ]] || fail "$dev has a kernel address"
done
for nsif in cl:eth0 lb:lbwan lb:lblan sw:swlb rs1:eth0 rs2:eth0 rs3:eth0 \
  sw:swrs1 sw:swrs2 sw:swrs3; do
  on=$(ns_exec "${nsif%%:*}" ethtool -k "${nsif#*:}" |
    grep -E '^(rx-checksumming|tx-checksumming|tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload): on' || true)
  [[ -z $on ]] || fail "offloads still on at ${nsif}: ${on//$'\n'/, }"
done
if [[ $FAILS -ne 0 ]]; then
  exit 1
fi

# ---------------------------------------------------------------- servers
for i in 1 2 3; do
  mkdir -p "$WORK/www/rs$i"
  printf 'rs%s' "$i" >"$WORK/www/rs$i/whoami"
  ns_bg "rs$i" "$WORK/rs$i.http.log" \
    "$PY" -u -m http.server 8080 --bind 0.0.0.0 --directory "$WORK/www/rs$i" >/dev/null
  # Replies "<name> <peer ip>:<peer port> <payload>" to every datagram.
  ns_bg "rs$i" "$WORK/rs$i.udp.log" "$PY" -u -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9000))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    print(peer[0], peer[1], flush=True)
    s.sendto(("%s %s:%d " % (sys.argv[1], peer[0], peer[1])).encode() + data, peer)
' "rs$i" >/dev/null
done
for i in 1 2 3; do
  ns_wait_tcp "rs$i" 127.0.0.1 8080 100
  ns_wait_file "$WORK/rs$i.udp.log" '^ready$' 100
done

if [[ ${DPLB_E2E_TCPDUMP:-0} == 1 ]]; then
  ns_bg cl "$WORK/tcpdump-cl.log" tcpdump -n -U -i eth0 -w "$WORK/cl.pcap" >/dev/null
  ns_bg rs1 "$WORK/tcpdump-rs1.log" tcpdump -n -U -i eth0 -w "$WORK/rs1.pcap" >/dev/null
  ns_wait_file "$WORK/tcpdump-cl.log" 'listening' 50
  ns_wait_file "$WORK/tcpdump-rs1.log" 'listening' 50
fi

# ---------------------------------------------------------------- dplbd
rs_list() { # PORT WEIGHTED(0|1): the real_servers list of a service
  local port=$1 weighted=$2
  for i in 0 1 2; do
    if [[ $weighted == 1 ]]; then
      echo "      - { address: ${RS_ADDR[i]}, port: $port, weight: ${RS_WEIGHT[i]} }"
    else
      echo "      - { address: ${RS_ADDR[i]}, port: $port }"
    fi
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
      device: "net_af_packet0,iface=lbwan"
      addresses: [$WAN_ADDR/24]
    - name: lan0
      device: "net_af_packet1,iface=lblan"
      addresses: [$LAN_ADDR/24]
  conn_table: { capacity: 4096 }
services:
  - name: web
    vip: $VIP
    port: 80
    protocol: tcp
    scheduler: wrr
    forward: nat
    real_servers:
$(rs_list 8080 1)
  - name: echo
    vip: $VIP
    port: 53
    protocol: udp
    scheduler: rr
    forward: nat
    real_servers:
$(rs_list 9000 0)
  - name: probe
    vip: $VIP
    port: 81
    protocol: tcp
    scheduler: rr
    forward: nat
    real_servers:
$(rs_list 8080 0)
admin: { socket: $WORK/dplb.sock }
metrics: { listen: "" }
logging: { level: info }
EOF
"$DPLBD" --check-config "$WORK/dplb.yaml" >/dev/null

ns_bg lb "$WORK/dplbd.log" "$DPLBD" -c "$WORK/dplb.yaml" >/dev/null
DPLBD_PID=$!

# Start-up: poll (bounded) until a request through the VIP is answered. Each
# try is bounded by curl's own timeouts; a dead dplbd ends the wait at once.
ready=0
for ((try = 0; try < 40; try++)); do
  if ! kill -0 "$DPLBD_PID" 2>/dev/null; then
    echo "dplbd exited during start-up" >&2
    exit 1
  fi
  if ns_exec cl curl -sf --connect-timeout 1 --max-time 2 -o /dev/null \
    "http://$VIP:81/whoami?probe=$try"; then
    ready=1
    break
  fi
  sleep 0.2
done
if [[ $ready -ne 1 ]]; then
  echo "no answer through $VIP:81 after 40 tries" >&2
  exit 1
fi
# Three more through the rr probe service: one per server, so every server's
# neighbour entry is known on both sides before the measured runs.
for ((try = 0; try < 3; try++)); do
  ns_exec cl curl -sf --connect-timeout 2 --max-time 3 -o /dev/null \
    "http://$VIP:81/whoami?probe=warm$try" || fail "warm-up request $try through $VIP:81"
done
echo "dplbd forwards through $VIP (probe service answered, servers warmed up)"

# dplbd's ARP answered the client for the VIP and the servers for its lan
# address (nothing else in the topology could).
mac_of() { ip -n "$(ns_name "$1")" -o link show dev "$2" | grep -oE 'link/ether [0-9a-f:]+' | cut -d' ' -f2; }
neigh_of() { ip -n "$(ns_name "$1")" neigh show "$2" dev eth0 | grep -oE 'lladdr [0-9a-f:]+' | cut -d' ' -f2 || true; }
[[ $(neigh_of cl "$VIP") == "$(mac_of lb lbwan)" ]] ||
  fail "client's neighbour entry for $VIP is '$(neigh_of cl "$VIP")', not lbwan's $(mac_of lb lbwan)"
for i in 1 2 3; do
  [[ $(neigh_of "rs$i" "$LAN_ADDR") == "$(mac_of lb lblan)" ]] ||
    fail "rs$i's neighbour entry for $LAN_ADDR is '$(neigh_of "rs$i" "$LAN_ADDR")', not lblan's"
done

# ---------------------------------------------------------------- TCP / HTTP
# One curl per request, each from its own source port (a fresh 5-tuple, so
# each is one new connection scheduled by wrr). Output: "<n> <body> <code>
# <remote>" or "<n> FAIL <curl rc>"; gives up after 3 failures.
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
  done' _ "$VIP" "$HTTP_REQUESTS" "$HTTP_PORT_BASE" >"$WORK/http.out"

declare -A http_count=([rs1]=0 [rs2]=0 [rs3]=0)
declare -A http_ns=()
http_ok=0
seq_of_servers=()
while read -r n body code remote rest; do
  if [[ $body =~ ^rs[123]$ && $code == 200 && $remote == "$VIP:80" && -z ${rest:-} ]]; then
    http_ok=$((http_ok + 1))
    http_count[$body]=$((http_count[$body] + 1))
    http_ns[$body]+=" $n"
    seq_of_servers[n]=$body
  else
    fail "HTTP request $n: $body $code $remote ${rest:-}"
  fi
done <"$WORK/http.out"
[[ $http_ok -eq $HTTP_REQUESTS ]] ||
  fail "HTTP: $http_ok of $HTTP_REQUESTS requests answered"

# WRR 3:2:1 with one worker is deterministic: every run of 6 consecutive new
# connections from a fresh scheduler is one full cycle (3 rs1, 2 rs2, 1 rs3),
# so 120 requests split exactly 60/40/20.
cycle=$((RS_WEIGHT[0] + RS_WEIGHT[1] + RS_WEIGHT[2]))
for i in 1 2 3; do
  expect=$((HTTP_REQUESTS * RS_WEIGHT[i - 1] / cycle))
  [[ ${http_count[rs$i]} -eq $expect ]] ||
    fail "WRR split: rs$i answered ${http_count[rs$i]} requests, expected $expect"
done
if [[ $http_ok -eq $HTTP_REQUESTS ]]; then
  for ((c = 0; c < HTTP_REQUESTS / cycle; c++)); do
    got=$(printf '%s\n' "${seq_of_servers[@]:c*cycle:cycle}" | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')
    [[ $got == "rs1=3 rs2=2 rs3=1 " ]] ||
      fail "WRR cycle $c (requests $((c * cycle))..$((c * cycle + cycle - 1))): $got"
  done
fi
echo "HTTP: $http_ok/$HTTP_REQUESTS answered; rs1=${http_count[rs1]} rs2=${http_count[rs2]} rs3=${http_count[rs3]}"

# The servers saw the client's own address, and each logged exactly the
# requests whose answers carried its name.
for i in 1 2 3; do
  log="$WORK/rs$i.http.log"
  logged=$(grep -E '"GET /whoami\?n=[0-9]+ HTTP/1\.1" 200' "$log" || true)
  from_client=$(grep -cE "^${CLIENT//./\\.} - - " <<<"$logged" || true)
  total=$(grep -c . <<<"$logged" || true)
  [[ $total -eq ${http_count[rs$i]} && $from_client -eq $total ]] ||
    fail "rs$i http.server log: $total requests logged, $from_client from $CLIENT, expected ${http_count[rs$i]} all from $CLIENT"
  want=$(tr ' ' '\n' <<<"${http_ns[rs$i]:-}" | grep . | sort -n | tr '\n' ' ' || true)
  have=$(sed -nE 's/.*"GET \/whoami\?n=([0-9]+) .*/\1/p' <<<"$logged" | sort -n | tr '\n' ' ' || true)
  [[ $want == "$have" ]] || fail "rs$i logged requests {$have}, answered {$want}"
done

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
rc=0
ns_stop "$DPLBD_PID" 100 || rc=$?
DPLBD_PID=""
[[ $rc -eq 0 ]] || fail "dplbd exited with status $rc after SIGTERM (expected 0)"
stopped=$(grep -oE 'stopped: rx [0-9]+ tx [0-9]+ dropped [0-9]+ packets, [0-9]+ connections' \
  "$WORK/dplbd.log" || true)
if [[ -z $stopped ]]; then
  fail "dplbd did not print its 'stopped: ...' summary"
else
  echo "dplbd $stopped"
  read -r conns < <(sed -E 's/.* ([0-9]+) connections/\1/' <<<"$stopped")
  min_conns=$((HTTP_REQUESTS + UDP_DATAGRAMS + 4))
  [[ $conns -ge $min_conns ]] ||
    fail "dplbd counted $conns connections, expected at least $min_conns"
fi

if [[ $FAILS -ne 0 ]]; then
  echo "$FAILS check(s) failed" >&2
  exit 1
fi
echo "PASS"
