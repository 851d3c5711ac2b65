#!/usr/bin/env bash
# make bench: drive the IMDSv2 credential path of the real tc-credd binary
# (tc-credd dev: the embedded fake Auth service) with many concurrent
# keep-alive connections, and in the same run a bare net/http server that
# serves a fixed document of the same size. Prints requests/s, p50, p99 and
# peak RSS side by side. Only loopback is used.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-5}

if ! command -v wrk >/dev/null; then
  echo "installing wrk..." >&2
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# Both built as `make build` builds the release: static, stripped.
build() { CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$1" "$2"; }
build "$work/tc-credd" ./cmd/tc-credd
build "$work/baseline" ./bench/baseline

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
P=$(port); O=$(port)
# The JSON log goes to a file in memory (/dev/shm when there is one), so
# that no log reader competes for CPU while wrk runs; afterwards its lines
# are counted to check there is one access-log line per request.
logdir=$work
[ -d /dev/shm ] && [ -w /dev/shm ] && logdir=$(mktemp -d /dev/shm/tc-credd-bench.XXXXXX)
trap 'cleanup; [ "$logdir" != "$work" ] && rm -rf "$logdir"' EXIT
${CREDD_ENV:-} "$work/tc-credd" dev --listen "127.0.0.1:$P" --ops-listen "127.0.0.1:$O" >"$work/dev.out" 2>"$logdir/log" &
pids+=($!); credd=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$O/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
token=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' "http://127.0.0.1:$P/latest/api/token")
url="http://127.0.0.1:$P/latest/meta-data/iam/security-credentials/demo"
curl -fsS -H "X-aws-ec2-metadata-token: $token" "$url" >"$work/doc.json"
served=1 # requests to the credential route, counted from wrk's reports

# tc-credd picks its own GOMAXPROCS (one P more than the CPUs, see
# internal/cli/tune.go) and logs it at start.
procs=
for _ in $(seq 1 50); do
  procs=$(grep -o '"gomaxprocs":[0-9]*' "$logdir/log" | head -1 | cut -d: -f2 || true)
  [ -n "$procs" ] && break
  sleep 0.1
done
[ -n "$procs" ] || { echo "tc-credd did not log its runtime settings" >&2; exit 1; }

# Two bare servers: as Go starts it (the yardstick the targets use), and
# with tc-credd's GOMAXPROCS, to show what that setting alone is worth.
start_baseline() { # name [env...]
  local name=$1; shift
  env "$@" "$work/baseline" --doc "$work/doc.json" >"$work/$name.addr" &
  pids+=($!); eval "pid_$name=$!"
  for _ in $(seq 1 50); do [ -s "$work/$name.addr" ] && break; sleep 0.1; done
}
start_baseline base
start_baseline same GOMAXPROCS="$procs"
# The same path as tc-credd's: all servers parse identical requests.
path=/latest/meta-data/iam/security-credentials/demo
baseurl="http://$(cat "$work/base.addr")$path"
sameurl="http://$(cat "$work/same.addr")$path"

# wrk --latency prints "50%  1.23ms"; convert to microseconds.
to_us() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v*1000} else {sub(/s$/,"",v); print v*1000000}}'; }
measure() { # name url [header]
  local out
  if [ -n "${3:-}" ]; then
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -H "$3" "$2")
  else
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$2")
  fi
  if echo "$out" | grep -q "Non-2xx"; then echo "$1: non-2xx responses" >&2; echo "$out" >&2; exit 1; fi
  echo "$out" | awk '/requests in/ {print $1}' >>"$work/requests.$1"
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}' | to_us)
  p99=$(echo "$out" | awk '$1=="99%" {print $2}' | to_us)
  echo "$1 $rps $p50 $p99"
}
rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

# Warm both up, then alternate rounds so drift hits both alike.
wrk -t1 -c4 -d2s -H "X-aws-ec2-metadata-token: $token" "$url" | awk '/requests in/ {print $1}' >>"$work/requests.tc-credd"
wrk -t1 -c4 -d2s -H "X-aws-ec2-metadata-token: $token" "$baseurl" >/dev/null
wrk -t1 -c4 -d2s -H "X-aws-ec2-metadata-token: $token" "$sameurl" >/dev/null
: >"$work/results"
for r in $(seq 1 "$ROUNDS"); do
  # The same request, token header included, to every server.
  measure baseline "$baseurl" "X-aws-ec2-metadata-token: $token" >>"$work/results"
  measure baseline-same "$sameurl" "X-aws-ec2-metadata-token: $token" >>"$work/results"
  measure tc-credd "$url" "X-aws-ec2-metadata-token: $token" >>"$work/results"
done

# Median of the rounds per server.
summary() { # name -> "rps p50 p99"
  local n=$1
  for col in 2 3 4; do
    awk -v n="$n" -v c="$col" '$1==n {print $c}' "$work/results" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
  done | paste -sd' '
}
read -r b_rps b_p50 b_p99 <<<"$(summary baseline)"
read -r s_rps s_p50 s_p99 <<<"$(summary baseline-same)"
read -r c_rps c_p50 c_p99 <<<"$(summary tc-credd)"
# The machine's speed drifts between rounds (a shared VM moves by ±10 %
# within a minute), so the targets are judged on each round's ratio to the
# baseline round of the same round, and the median of those ratios.
paired() { # column baseline-name -> median of tc-credd/baseline per round
  awk -v c="$1" -v b="$2" '$1==b {x=$c} $1=="tc-credd" {print $c/x}' "$work/results" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
r_rps=$(paired 2 baseline); r_p99=$(paired 4 baseline)
q_rps=$(paired 2 baseline-same); q_p99=$(paired 4 baseline-same)
b_rss=$(rss_kib "$pid_base"); s_rss=$(rss_kib "$pid_same"); c_rss=$(rss_kib "$credd")
docsize=$(wc -c <"$work/doc.json")
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }
ratio() { awk -v a="$1" -v b="${2:-1}" 'BEGIN{printf "%.2f ×", a/b}'; }
atleast() { awk -v a="$1" -v b="$2" 'BEGIN{print (a>=b)?"yes":"no"}'; } # a ≥ b

# Stop the daemon (it flushes its log on the way out) and count its lines.
kill "$credd"; wait "$credd" 2>/dev/null || true
lines=$(grep -c -F '"route":"imds_credentials"' "$logdir/log" || true)
requests=$(awk -v n="$served" '{n += $1} END {print n}' "$work/requests.tc-credd")

cat <<REPORT
tc-credd benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(go version | awk '{print $3}')
wrk -t$THREADS -c$CONNS -d$DURATION --latency, $ROUNDS alternating rounds each, median shown; document $docsize bytes.
tc-credd runs with GOMAXPROCS=$procs (its default on $(nproc) CPUs). Targets are judged against the bare
server as Go starts it, on the median of per-round ratios (each tc-credd round over the bare round of the
same round); the last column compares with the bare server given tc-credd's GOMAXPROCS.

| server | requests/s | p50 (µs) | p99 (µs) | peak RSS (MiB) |
|---|---:|---:|---:|---:|
| bare net/http, fixed document | $b_rps | $b_p50 | $b_p99 | $(mib "$b_rss") |
| bare net/http, GOMAXPROCS=$procs | $s_rps | $s_p50 | $s_p99 | $(mib "$s_rss") |
| tc-credd IMDSv2 credentials | $c_rps | $c_p50 | $c_p99 | $(mib "$c_rss") |

| target | measured | met | against bare with GOMAXPROCS=$procs |
|---|---|---|---|
| throughput ≥ 0.85 × bare | $(ratio "$r_rps") (ratio of medians $(ratio "$c_rps" "$b_rps")) | $(atleast "$r_rps" 0.85) | $(ratio "$q_rps"): $(atleast "$q_rps" 0.85) |
| p99 ≤ 1.2 × bare | $(ratio "$r_p99") (ratio of medians $(ratio "$c_p99" "$b_p99")) | $(atleast 1.2 "$r_p99") | $(ratio "$q_p99"): $(atleast 1.2 "$q_p99") |
| peak RSS ≤ 25 MiB | $(mib "$c_rss") MiB | $(atleast $((25 * 1024)) "$c_rss") | |


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
