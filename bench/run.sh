#!/usr/bin/env bash
# bench/run.sh: the fixed benchmark suite behind `make bench`.
#
# Builds strata, the kfake launcher (bench/peers/kfake, its own Go module) and
# NATS (nats-server and the natscli bench tool, latest from the Go module
# proxy) into a temp dir, starts every server on 127.0.0.1 only with fresh temp
# data dirs, runs the same workloads against Strata and the peers in this one
# run, and overwrites docs/benchmarks.md with the machine, the exact commands
# and the results. Every server is stopped and every temp dir removed on exit.
#
# Sizes (environment, defaults in brackets):
#   RECORDS [2000000]        records of workloads 1, 3 (Strata) and 4: ~2 GiB
#   RECORDS_W2 [1000000]     records of each workload 2 variant
#   NATS_SYNC_MSGS [100000]  messages of NATS with sync_interval=always (slow)
#   E2E_RATE [51200]         workload 5 records/s (50 MiB/s of 1 KiB records)
#   E2E_DURATION [20s]       workload 5 duration
#   REPEAT [3]               runs of every workload 1-5 cell; the report gives the median
#   OUT [docs/benchmarks.md] where the report goes
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
GO=${GO:-go}
PY=/usr/bin/python3
OUT=${OUT:-$ROOT/docs/benchmarks.md}
RECORDS=${RECORDS:-2000000}
RECORDS_W2=${RECORDS_W2:-1000000}
NATS_SYNC_MSGS=${NATS_SYNC_MSGS:-100000}
E2E_RATE=${E2E_RATE:-51200}
E2E_DURATION=${E2E_DURATION:-20s}
REPEAT=${REPEAT:-3}
SIZE=1024
PARTS=6

WORK=$(mktemp -d /tmp/strata-bench.XXXXXX)
BIN=$WORK/bin
RES=$WORK/results.jsonl   # one JSON object per measurement
CMDS=$WORK/commands.txt   # every command run, in order
NOTES=$WORK/notes.txt     # things that went wrong or were skipped
mkdir -p "$BIN"
: >"$RES"
: >"$CMDS"
: >"$NOTES"

SERVER_PIDS=()
cleanup() {
	local pid
	for pid in "${SERVER_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${SERVER_PIDS[@]}"; do
		wait_gone "$pid"
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '== %s\n' "$*" >&2; }
note() { printf '%s\n' "$*" >>"$NOTES"; log "NOTE: $*"; }

# wait_gone PID: wait until PID has exited (it may not be our child), at most 30 s.
wait_gone() {
	local pid=$1 i
	if [[ -n ${WRAPPER[$pid]:-} ]]; then
		wait "${WRAPPER[$pid]}" 2>/dev/null || true
	fi
	for ((i = 0; i < 3000; i++)); do
		[[ -e /proc/$pid ]] || return 0
		grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && return 0
		sleep 0.01
	done
	note "process $pid did not exit within 30 s of SIGTERM; sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
}

# stop PID: SIGTERM one server we started and wait for it.
stop() {
	local pid=$1 p keep=()
	kill -TERM "$pid" 2>/dev/null || true
	wait_gone "$pid"
	for p in "${SERVER_PIDS[@]}"; do
		[[ $p == "$pid" ]] || keep+=("$p")
	done
	SERVER_PIDS=("${keep[@]+"${keep[@]}"}")
}

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_tcp PORT: poll until 127.0.0.1:PORT accepts a connection (10 s).
wait_tcp() {
	"$PY" - "$1" <<'EOF'
import socket, sys, time
port, end = int(sys.argv[1]), time.time() + 10
while time.time() < end:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.005)
sys.exit("port %d not listening after 10 s" % port)
EOF
}

# spawn LOG CMD...: start CMD with output to LOG under a small python parent
# that polls READY_URL (http://ADMIN/readyz) every 5 ms when it is set, and set
# SPAWNED to "PID MILLIS": the server's pid and the time from exec to the
# first 200 (0 without READY_URL). The parent stays to reap the server and is
# remembered in WRAPPER[PID]; stop PID ends both.
declare -A WRAPPER=()
spawn() {
	local log=$1 ready=$WORK/spawn.$RANDOM$RANDOM i out wrapper
	shift
	"$PY" - "$log" "$ready" "$@" <<'EOF' &
import os, subprocess, sys, time, urllib.request
log, ready, cmd, url = sys.argv[1], sys.argv[2], sys.argv[3:], os.environ.get("READY_URL", "")
with open(log, "ab") as f:
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
ms = 0.0
if url:
    ms, end = -1.0, t0 + 30
    while p.poll() is None and time.monotonic() < end:
        try:
            if urllib.request.urlopen(url, timeout=1).status == 200:
                ms = (time.monotonic() - t0) * 1000
                break
        except Exception:
            pass
        time.sleep(0.005)
with open(ready + ".tmp", "w") as f:
    f.write("%d %.1f\n" % (p.pid, ms))
os.rename(ready + ".tmp", ready)
sys.exit(p.wait())
EOF
	wrapper=$!
	for ((i = 0; i < 4000; i++)); do
		[[ -e $ready ]] && break
		sleep 0.01
	done
	if [[ ! -e $ready ]]; then
		echo "spawn: no start report from $*" >&2
		return 1
	fi
	out=$(<"$ready")
	rm -f "$ready"
	WRAPPER[${out% *}]=$wrapper
	SERVER_PIDS+=("${out% *}")
	SPAWNED=$out
	if [[ ${out#* } == -1.0 ]]; then
		echo "spawn: $1 did not become ready; see $log" >&2
		return 1
	fi
}

# record ID SYSTEM KIND FILE [REP]: append FILE's measurement to the results.
record() {
	"$PY" - "$@" >>"$RES" <<'EOF'
import csv, json, sys
wid, system, kind, path = sys.argv[1:5]
rep = int(sys.argv[5]) if len(sys.argv) > 5 else 1
if kind == "strata":
    data = json.load(open(path))
elif kind == "nats":  # natscli --csv: one row per client; we run one client
    row = next(csv.DictReader(open(path)))
    rps, bps = float(row["MsgsPerSec"]), float(row["BytesPerSec"])
    data = {"records_per_sec": rps, "mb_per_sec": bps / 2**20,
            "seconds": float(row["DurationSecs"])}
else:  # a bare JSON value already
    data = json.load(open(path))
print(json.dumps({"id": wid, "system": system, "rep": rep, "data": data}))
EOF
}

# cmd_log CMD...: remember a command for the report, with the binary dir shortened.
cmd_log() {
	local s="$*"
	s=${s//$BIN\//}
	printf '%s\n' "${s//$WORK/\$tmp}" >>"$CMDS"
}

# settle: write back every dirty page before a measured run, so that one run's
# data (gigabytes in the page cache) is not flushed during, and billed to, the next.
settle() { sync; }

# sbench ID REP SYSTEM BROKERS ARGS...: one `strata bench` run, recorded.
sbench() {
	local id=$1 rep=$2 system=$3 brokers=$4
	shift 4
	local out=$WORK/$id-$system-$rep.json
	cmd_log strata bench "$@" --brokers "$brokers" --json
	log "$id #$rep $system: strata bench $*"
	settle
	if "$BIN/strata" bench "$@" --brokers "$brokers" --json >"$out" 2>>"$WORK/$id-$system.stderr"; then
		record "$id" "$system" strata "$out" "$rep"
		tail -c 400 "$out" >&2
	else
		note "$id on $system failed: $(tail -n 3 "$WORK/$id-$system.stderr" | tr '\n' ' ')"
	fi
}

# ---------------------------------------------------------------- build
log "building strata, kfake launcher, nats-server, nats"
cmd_log "CGO_ENABLED=0 go build -o strata ./cmd/strata"
CGO_ENABLED=0 "$GO" build -o "$BIN/strata" ./cmd/strata
cmd_log "(cd bench/peers/kfake && go build -o kfake .)"
(cd bench/peers/kfake && "$GO" build -o "$BIN/kfake" .)
HAVE_NATS=1
cmd_log "GOBIN=\$tmp go install github.com/nats-io/nats-server/v2@latest"
cmd_log "GOBIN=\$tmp go install github.com/nats-io/natscli/nats@latest"
if ! GOBIN=$BIN GOFLAGS= "$GO" install github.com/nats-io/nats-server/v2@latest >"$WORK/nats-build.log" 2>&1 ||
	! GOBIN=$BIN GOFLAGS= "$GO" install github.com/nats-io/natscli/nats@latest >>"$WORK/nats-build.log" 2>&1; then
	HAVE_NATS=0
	note "NATS not measured: go install failed: $(tail -n 3 "$WORK/nats-build.log" | tr '\n' ' ')"
fi
versions() {
	local b
	for b in strata kfake nats-server nats; do
		[[ -x $BIN/$b ]] || continue
		"$GO" version -m "$BIN/$b" | awk -v b="$b" '
			NR == 1 { gov = $2 }
			$1 == "mod" { main = $2 " " $3 }
			$1 == "dep" && $2 == "github.com/twmb/franz-go/pkg/kfake" { kf = $3 }
			END { printf "%s: %s (%s%s)\n", b, main, gov, kf ? ", kfake " kf : "" }'
	done
}
versions >"$WORK/versions.txt"

# ---------------------------------------------------------------- machine
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "go=$("$GO" version | awk '{print $3}')"
	echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (plus uncommitted changes)')"
	echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "cores=$(nproc)"
	echo "mem_bytes=$(free -b | awk '/^Mem:/ {print $2}')"
	echo "disk=$(df -h "$WORK" | awk 'NR == 2 {print $1 ", " $2 " total, " $4 " free"}')"
	echo "kernel=$(uname -r)"
	echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
	# cost of one durable 1 KiB write on the disk the data dirs live on
	dd if=/dev/zero of="$WORK/dsync" bs=1k count=500 oflag=dsync 2>&1 |
		awk '/copied/ {for (i = 1; i <= NF; i++) if ($i == "s,") printf "dsync_us=%.0f\n", $(i-1) / 500 * 1e6}'
	rm -f "$WORK/dsync"
} >"$WORK/machine.txt"

# ---------------------------------------------------------------- servers
# start_strata NAME ARGS...: a fresh strata on free ports; sets SPID, SADDR, SADMIN, SREADY_MS.
start_strata() {
	local name=$1
	shift
	local kp ap
	kp=$(free_port)
	ap=$(free_port)
	mkdir -p "$WORK/$name"
	cmd_log strata serve --data-dir "$WORK/$name/data" --listen "127.0.0.1:$kp" --admin "127.0.0.1:$ap" "$@"
	READY_URL="http://127.0.0.1:$ap/readyz" spawn "$WORK/$name.log" "$BIN/strata" serve \
		--data-dir "$WORK/$name/data" --listen "127.0.0.1:$kp" --admin "127.0.0.1:$ap" "$@"
	SPID=${SPAWNED% *}
	SREADY_MS=${SPAWNED#* }
	SADDR=127.0.0.1:$kp
	SADMIN=127.0.0.1:$ap
}

# start_kfake: a fresh kfake cluster (one broker); sets KPID, KADDR.
start_kfake() {
	local p
	p=$(free_port)
	cmd_log kfake -port "$p"
	spawn "$WORK/kfake.log" "$BIN/kfake" -port "$p"
	KPID=${SPAWNED% *}
	wait_tcp "$p"
	KADDR=127.0.0.1:$p
}

# start_nats NAME SYNC: nats-server with JetStream file storage; SYNC "always" or "".
start_nats() {
	local name=$1 sync=$2 p
	p=$(free_port)
	mkdir -p "$WORK/$name"
	{
		echo "listen: \"127.0.0.1:$p\""
		echo "jetstream {"
		echo "  store_dir: \"$WORK/$name/js\""
		[[ -n $sync ]] && echo "  sync_interval: $sync"
		echo "}"
	} >"$WORK/$name/nats.conf"
	cmd_log "nats-server -c nats.conf   # $(tr '\n' ' ' <"$WORK/$name/nats.conf" | tr -s ' ')"
	spawn "$WORK/$name.log" "$BIN/nats-server" -c "$WORK/$name/nats.conf"
	NPID=${SPAWNED% *}
	wait_tcp "$p"
	NURL=nats://127.0.0.1:$p
}

# nbench ID REP MSGS: NATS JetStream async publish with acks, file storage, R1.
nbench() {
	local id=$1 rep=$2 msgs=$3
	local out=$WORK/$id-nats-$rep.csv
	local args=(bench js pub async "bench.$id.$rep" --stream "bench-$id-$rep" --create --storage file --replicas 1 --maxbytes 8GB
		--size "$SIZE" --msgs "$msgs" --clients 1 --no-progress --csv "$out" --timeout 60s)
	cmd_log nats "${args[@]}" -s "$NURL"
	log "$id #$rep nats: nats ${args[*]}"
	settle
	if "$BIN/nats" "${args[@]}" -s "$NURL" >"$WORK/$id-nats-$rep.out" 2>&1; then
		record "$id" nats nats "$out" "$rep"
		grep -m1 'stats:' "$WORK/$id-nats-$rep.out" >&2 || true
	else
		note "$id on NATS failed: $(tail -n 3 "$WORK/$id-nats-$rep.out" | tr '\n' ' ')"
	fi
}

status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
json_mem() { printf '{"idle_rss_kb":%s,"peak_kb":%s}\n' "$1" "$2" >"$WORK/$3"; }

PRODUCE=(--record-size "$SIZE" --partitions "$PARTS")

# ---------------------------------------------------------------- workloads
# 6b. Time to ready with an empty data dir: five fresh starts.
for i in 1 2 3 4 5; do
	start_strata "startup$i"
	field=$(grep -m1 'msg="strata ready"' "$WORK/startup$i.log" | sed -n 's/.* startup=\([^ ]*\).*/\1/p')
	printf '{"poll_ms":%s,"startup_field":"%s","rss_kb":%s}\n' "$SREADY_MS" "$field" "$(status_kb "$SPID" VmRSS)" >"$WORK/startup$i.json"
	record w6start strata json "$WORK/startup$i.json"
	stop "$SPID"
done

# Strata, default flush policy: workloads 1, 2, 4, 5 and memory. Each
# repetition writes its own topics; workload 4 reads workload 1's first topic.
start_strata strata
sleep 1 # idle
idle_kb=$(status_kb "$SPID" VmRSS)
for ((r = 1; r <= REPEAT; r++)); do
	sbench w1 "$r" strata "$SADDR" produce --topic "w1-$r" --records "$RECORDS" --acks all --compression none "${PRODUCE[@]}"
	if ((r == 1)); then
		json_mem "$idle_kb" "$(status_kb "$SPID" VmHWM)" mem-strata.json
		record w6mem strata json "$WORK/mem-strata.json"
	fi
done
for ((r = 1; r <= REPEAT; r++)); do
	sbench w2acks1 "$r" strata "$SADDR" produce --topic "w2a-$r" --records "$RECORDS_W2" --acks 1 --compression none "${PRODUCE[@]}"
	sbench w2lz4 "$r" strata "$SADDR" produce --topic "w2l-$r" --records "$RECORDS_W2" --acks all --compression lz4 "${PRODUCE[@]}"
done
for ((r = 1; r <= REPEAT; r++)); do
	sbench w4 "$r" strata "$SADDR" consume --topic w1-1
done
for ((r = 1; r <= REPEAT; r++)); do
	sbench w5 "$r" strata "$SADDR" e2e --topic "w5-$r" --rate "$E2E_RATE" --duration "$E2E_DURATION" --acks all "${PRODUCE[@]}"
done
stop "$SPID"
rm -rf "$WORK/strata"

# Strata, fsync before every acknowledgement: workload 3.
start_strata strata-sync --set log.flush.interval.messages=1
for ((r = 1; r <= REPEAT; r++)); do
	sbench w3 "$r" strata "$SADDR" produce --topic "w3-$r" --records "$RECORDS" --acks all --compression none "${PRODUCE[@]}"
done
stop "$SPID"
rm -rf "$WORK/strata-sync"

# kfake: a fresh in-memory cluster per run, so it never holds more than one
# run's data (~2 GiB); workload 4 reads the last workload 1 run's topic.
for ((r = 1; r <= REPEAT; r++)); do
	start_kfake
	if ((r == 1)); then
		sleep 1
		idle_kb=$(status_kb "$KPID" VmRSS)
	fi
	sbench w1 "$r" kfake "$KADDR" produce --topic "w1-$r" --records "$RECORDS" --acks all --compression none "${PRODUCE[@]}"
	if ((r == 1)); then
		json_mem "$idle_kb" "$(status_kb "$KPID" VmHWM)" mem-kfake.json
		record w6mem kfake json "$WORK/mem-kfake.json"
	fi
	if ((r == REPEAT)); then
		for ((c = 1; c <= REPEAT; c++)); do
			sbench w4 "$c" kfake "$KADDR" consume --topic "w1-$r"
		done
	fi
	stop "$KPID"
done
for ((r = 1; r <= REPEAT; r++)); do
	start_kfake
	sbench w2acks1 "$r" kfake "$KADDR" produce --topic "w2a-$r" --records "$RECORDS_W2" --acks 1 --compression none "${PRODUCE[@]}"
	stop "$KPID"
	start_kfake
	sbench w2lz4 "$r" kfake "$KADDR" produce --topic "w2l-$r" --records "$RECORDS_W2" --acks all --compression lz4 "${PRODUCE[@]}"
	stop "$KPID"
	start_kfake
	sbench w5 "$r" kfake "$KADDR" e2e --topic "w5-$r" --rate "$E2E_RATE" --duration "$E2E_DURATION" --acks all "${PRODUCE[@]}"
	stop "$KPID"
done

# NATS JetStream: workload 1, and workload 3 with sync_interval=always. Each
# repetition publishes to its own stream.
if ((HAVE_NATS)); then
	start_nats nats ""
	sleep 1
	idle_kb=$(status_kb "$NPID" VmRSS)
	for ((r = 1; r <= REPEAT; r++)); do
		nbench w1 "$r" "$RECORDS"
		if ((r == 1)); then
			json_mem "$idle_kb" "$(status_kb "$NPID" VmHWM)" mem-nats.json
			record w6mem nats json "$WORK/mem-nats.json"
		fi
	done
	stop "$NPID"
	rm -rf "$WORK/nats"
	start_nats nats-sync always
	for ((r = 1; r <= REPEAT; r++)); do
		nbench w3 "$r" "$NATS_SYNC_MSGS"
	done
	stop "$NPID"
	rm -rf "$WORK/nats-sync"
fi
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/machine.txt"

# ---------------------------------------------------------------- report
export RECORDS RECORDS_W2 NATS_SYNC_MSGS E2E_RATE E2E_DURATION SIZE PARTS REPEAT
"$PY" "$ROOT/bench/report.py" "$WORK" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "wrote ${OUT#"$ROOT"/}"
