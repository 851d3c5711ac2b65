#!/usr/bin/env bash
# make bench: drive the IMDSv2 credential path of the real tc-credd binary
# (tc-credd dev: the embedded fake Auth service) with many concurrent
# keep-alive connections and, in the same rounds, two other servers:
#   - a bare net/http server that serves a fixed document of the same size
#     (the baseline: no routing, checks or logging);
#   - the same server writing tc-credd's access-log line for every request
#     (what the access log alone costs);
#   - amazon-ec2-metadata-mock (AEMM) v1.13.0 in IMDSv2-only mode (the peer).
# Every server runs with Go's default runtime settings. Prints requests/s,
# p50, p99 and peak RSS side by side, then each server's idle cost: context
# switches per second over IDLE seconds with no requests, after the load.
# Only loopback is used.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-5}
IDLE=${IDLE:-30}
AEMM_VERSION=v1.13.0

if ! command -v wrk >/dev/null; then
  echo "installing wrk..." >&2
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# tc-credd and the baseline are built as `make build` builds the release:
# static, stripped. AEMM comes from the Go module proxy.
build() { CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$1" "$2"; }
build "$work/tc-credd" ./cmd/tc-credd
build "$work/baseline" ./bench/baseline
GOBIN="$work/bin" CGO_ENABLED=0 go install -trimpath -ldflags '-s -w' \
  "github.com/aws/amazon-ec2-metadata-mock/cmd/ec2-metadata-mock@$AEMM_VERSION"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
waitfor() { for _ in $(seq 1 100); do curl -fsS -o /dev/null "$@" 2>/dev/null && return 0; sleep 0.1; done; echo "no answer from $*" >&2; exit 1; }

# The JSON logs go to memory (/dev/shm when there is one), so that no log
# reader competes for CPU while wrk runs; afterwards tc-credd's lines are
# counted to check there is one access-log line per request.
logdir=$work
[ -d /dev/shm ] && [ -w /dev/shm ] && logdir=$(mktemp -d /dev/shm/tc-credd-bench.XXXXXX)
trap 'cleanup; [ "$logdir" != "$work" ] && rm -rf "$logdir"' EXIT

P=$(port); O=$(port); A=$(port)
"$work/tc-credd" dev --listen "127.0.0.1:$P" --ops-listen "127.0.0.1:$O" >"$work/dev.out" 2>"$logdir/log" &
pids+=($!); credd=$!
waitfor "http://127.0.0.1:$O/readyz"
token=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' "http://127.0.0.1:$P/latest/api/token")
url="http://127.0.0.1:$P/latest/meta-data/iam/security-credentials/demo"
curl -fsS -H "X-aws-ec2-metadata-token: $token" "$url" >"$work/doc.json"
served=1 # requests to the credential route, counted from wrk's reports

"$work/baseline" --doc "$work/doc.json" >"$work/base.addr" &
pids+=($!); base=$!
# The access-log line tc-credd wrote for the request above, to imitate.
{ grep -F '"route":"imds_credentials"' "$logdir/log" || true; } | tail -n 1 >"$work/line.json"
[ -s "$work/line.json" ] || { echo "tc-credd logged no access-log line for the credential route" >&2; exit 1; }
"$work/baseline" --doc "$work/doc.json" --log-like "$work/line.json" --log "$logdir/logged.log" >"$work/logged.addr" &
pids+=($!); logged=$!
for _ in $(seq 1 50); do [ -s "$work/base.addr" ] && [ -s "$work/logged.addr" ] && break; sleep 0.1; done
[ -s "$work/base.addr" ] && [ -s "$work/logged.addr" ] || { echo "a bare server did not start" >&2; exit 1; }
# The same path as tc-credd's: every server parses an identical request.
baseurl="http://$(cat "$work/base.addr")/latest/meta-data/iam/security-credentials/demo"
loggedurl="http://$(cat "$work/logged.addr")/latest/meta-data/iam/security-credentials/demo"

(cd "$work" && HOME="$work" exec "$work/bin/ec2-metadata-mock" -n 127.0.0.1 -p "$A" -I >"$logdir/aemm.log" 2>&1) &
pids+=($!); aemm=$!
aemmtok=
for _ in $(seq 1 100); do
  aemmtok=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' "http://127.0.0.1:$A/latest/api/token" 2>/dev/null) && break
  sleep 0.1
done
[ -n "$aemmtok" ] || { echo "AEMM did not start" >&2; exit 1; }
aemmurl="http://127.0.0.1:$A/latest/meta-data/iam/security-credentials/baskinc-role"
curl -fsS -H "X-aws-ec2-metadata-token: $aemmtok" "$aemmurl" >"$work/aemm.json"

# wrk --latency prints "50%  1.23ms"; convert to microseconds.
to_us() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v*1000} else {sub(/s$/,"",v); print v*1000000}}'; }
measure() { # name url header
  local out
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -H "$3" "$2")
  if echo "$out" | grep -q "Non-2xx"; then echo "$1: non-2xx responses" >&2; echo "$out" >&2; exit 1; fi
  echo "$out" | awk '/requests in/ {print $1}' >>"$work/requests.$1"
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}' | to_us)
  p99=$(echo "$out" | awk '$1=="99%" {print $2}' | to_us)
  echo "$1 $rps $p50 $p99"
}
rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
# Context switches of every thread of a process, voluntary or not.
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {n += $2} END {print n+0}'; }

# Warm every server up, then alternate rounds so drift hits all alike.
wrk -t1 -c4 -d2s -H "X-aws-ec2-metadata-token: $token" "$url" | awk '/requests in/ {print $1}' >>"$work/requests.tc-credd"
wrk -t1 -c4 -d2s -H "X-aws-ec2-metadata-token: $token" "$baseurl" >/dev/null
wrk -t1 -c4 -d2s -H "X-aws-ec2-metadata-token: $token" "$loggedurl" >/dev/null
wrk -t1 -c4 -d2s -H "X-aws-ec2-metadata-token: $aemmtok" "$aemmurl" >/dev/null
: >"$work/results"
for r in $(seq 1 "$ROUNDS"); do
  measure baseline "$baseurl" "X-aws-ec2-metadata-token: $token" >>"$work/results"
  measure logged "$loggedurl" "X-aws-ec2-metadata-token: $token" >>"$work/results"
  # Its lines are not read: free their memory between rounds (the writer's
  # offset stays, so the file turns sparse).
  : >"$logdir/logged.log"
  measure aemm "$aemmurl" "X-aws-ec2-metadata-token: $aemmtok" >>"$work/results"
  measure tc-credd "$url" "X-aws-ec2-metadata-token: $token" >>"$work/results"
done

# Idle: no requests for IDLE seconds, all three servers in the same window.
sleep 2
c0=$(switches "$credd"); b0=$(switches "$base"); a0=$(switches "$aemm")
sleep "$IDLE"
c1=$(switches "$credd"); b1=$(switches "$base"); a1=$(switches "$aemm")
persec() { awk -v a="$1" -v b="$2" -v s="$IDLE" 'BEGIN{printf "%.2f", (b-a)/s}'; }
c_idle=$(persec "$c0" "$c1"); b_idle=$(persec "$b0" "$b1"); a_idle=$(persec "$a0" "$a1")

# Median of the rounds per server.
summary() { # name -> "rps p50 p99"
  local n=$1
  for col in 2 3 4; do
    awk -v n="$n" -v c="$col" '$1==n {print $c}' "$work/results" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
  done | paste -sd' '
}
read -r b_rps b_p50 b_p99 <<<"$(summary baseline)"
read -r a_rps a_p50 a_p99 <<<"$(summary aemm)"
read -r l_rps l_p50 l_p99 <<<"$(summary logged)"
read -r c_rps c_p50 c_p99 <<<"$(summary tc-credd)"
# The machine's speed drifts between rounds (a shared VM moves by ±10 %
# within a minute), so the targets are judged on each round's ratio to the
# other server's result in the same round, and the median of those ratios.
paired() { # column other-name [server] -> median of server/other per round
  awk -v c="$1" -v b="$2" -v s="${3:-tc-credd}" '$1==b {x=$c} $1==s {print $c/x}' "$work/results" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
r_p99=$(paired 4 baseline); r_rps=$(paired 2 aemm); r_brps=$(paired 2 baseline)
lr_p99=$(paired 4 baseline logged); lr_brps=$(paired 2 baseline logged)
b_rss=$(rss_kib "$base"); a_rss=$(rss_kib "$aemm"); c_rss=$(rss_kib "$credd"); l_rss=$(rss_kib "$logged")
# What the peak is made of: pages of the executable (shared with the page
# cache) and the process's own memory, as they stand after the load.
rss_of() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; } # pid field -> KiB
exe_mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN{printf "%.1f", b/1048576}'; }
mem_row() { # name pid executable
  echo "| $1 | $(exe_mib "$3") | $(mib "$(rss_of "$2" RssAnon)") | $(mib "$(rss_of "$2" RssFile)") |"
}
docsize=$(wc -c <"$work/doc.json")
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }
ratio() { awk -v a="$1" -v b="${2:-1}" 'BEGIN{printf "%.2f ×", a/b}'; }
atleast() { awk -v a="$1" -v b="$2" 'BEGIN{print (a>=b)?"yes":"no"}'; } # a ≥ b

mem_rows=$(mem_row "bare net/http" "$base" "$work/baseline"; mem_row AEMM "$aemm" "$work/bin/ec2-metadata-mock"; mem_row tc-credd "$credd" "$work/tc-credd")
kill "$credd"; wait "$credd" 2>/dev/null || true
lines=$(grep -c -F '"route":"imds_credentials"' "$logdir/log" || true)
requests=$(awk -v n="$served" '{n += $1} END {print n}' "$work/requests.tc-credd")

cat <<REPORT
tc-credd benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(go version | awk '{print $3}'), Go's default runtime settings
wrk -t$THREADS -c$CONNS -d$DURATION --latency, $ROUNDS alternating rounds each, median shown; tc-credd's document $docsize bytes,
AEMM's $(wc -c <"$work/aemm.json") bytes. Targets are judged on the median of per-round ratios.

| server | requests/s | p50 (µs) | p99 (µs) | peak RSS (MiB) | idle context switches/s |
|---|---:|---:|---:|---:|---:|
| bare net/http, fixed document | $b_rps | $b_p50 | $b_p99 | $(mib "$b_rss") | $b_idle |
| bare + tc-credd's access-log line | $l_rps | $l_p50 | $l_p99 | $(mib "$l_rss") | – |
| AEMM $AEMM_VERSION, IMDSv2 only | $a_rps | $a_p50 | $a_p99 | $(mib "$a_rss") | $a_idle |
| tc-credd IMDSv2 credentials | $c_rps | $c_p50 | $c_p99 | $(mib "$c_rss") | $c_idle |

| target | measured | met |
|---|---|---|
| p99 ≤ 1.5 × bare | $(ratio "$r_p99") (ratio of medians $(ratio "$c_p99" "$b_p99")) | $(atleast 1.5 "$r_p99") |
| throughput ≥ 1.0 × AEMM | $(ratio "$r_rps") (ratio of medians $(ratio "$c_rps" "$a_rps")); $(ratio "$r_brps") of bare | $(atleast "$r_rps" 1.0) |
| peak RSS ≤ 20 MiB | $(mib "$c_rss") MiB | $(atleast $((20 * 1024)) "$c_rss") |
| idle ≤ 1 context switch/s | $c_idle over ${IDLE} s | $(atleast 1 "$c_idle") |

The access-log line alone, on the bare server: p99 $(ratio "$lr_p99") of bare, throughput $(ratio "$lr_brps") of bare
(paired medians).

What each server's resident memory is made of after the load: its own memory (RssAnon), and pages of its
executable and other files, shared with the page cache (RssFile), which grow with the executable's size:

| server | executable (MiB) | RssAnon (MiB) | RssFile (MiB) |
|---|---:|---:|---:|
$mem_rows

Access log: $lines lines for the credential route, $requests requests that wrk saw completed
(wrk stops without counting the answers still in flight, at most $CONNS per run).
REPORT
if [ "$lines" -lt "$requests" ]; then
  echo "access log lost lines: $lines < $requests" >&2
  exit 1
fi
echo
echo "raw rounds (server rps p50_us p99_us):"
cat "$work/results"

# Caller identity: what a new connection pays once (the netlink socket
# lookup, the process scan, /proc and the user database), and what each later request
# on it pays (a context lookup), from the Go benchmarks of the lookup.
echo
ident=$(go test -run '^$' -bench 'LookupTCP|LookupUnix|FromContextCached' -benchtime 2s ./internal/identity/)
per() { echo "$ident" | awk -v n="$1" '$1 ~ "^"n"(-[0-9]+)?$" {print $3}'; }
tcp_ns=$(per BenchmarkLookupTCP); unix_ns=$(per BenchmarkLookupUnix); req_ns=$(per BenchmarkFromContextCached)
sockets=$(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -c ':' || true)
procs=$(ls -d /proc/[0-9]* | wc -l)
cat <<REPORT
Caller identity ($sockets TCP sockets in /proc/net/tcp{,6}, $procs processes):

| cost | measured |
|---|---:|
| per new loopback TCP connection (netlink socket lookup, process scan, /proc) | $(awk -v n="$tcp_ns" 'BEGIN{printf "%.0f µs", n/1000}') |
| per new Unix socket connection (SO_PEERCRED, /proc) | $(awk -v n="$unix_ns" 'BEGIN{printf "%.0f µs", n/1000}') |
| per request on a connection already identified | $req_ns ns |
REPORT
