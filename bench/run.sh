#!/usr/bin/env bash
# bench/run.sh: the fixed benchmark suite behind `make bench`.
#
# Builds strata, the kfake launcher (bench/peers/kfake, its own Go module), the
# NATS end-to-end and many-streams peers (bench/peers/natse2e, natsparts), the
# failover probe (bench/peers/failover) and NATS (nats-server and the natscli
# bench tool, latest from the Go module proxy) into a temp dir, starts every
# server on 127.0.0.1 only with fresh temp data dirs, runs the same workloads
# against Strata and the peers in this one run, and overwrites
# docs/benchmarks.md with the machine, the exact commands and the results.
# Workloads 1-7 and T1-T2 (transactions, SUITE keyword txn) run on one node;
# R1-R4 (SUITE keyword cluster) on three-node clusters: three `strata serve`
# processes, and three nats-server processes with routes between them and R3
# streams. Every server is stopped and every
# temp dir removed on exit.
#
# Sizes (environment, defaults in brackets):
#   RECORDS [2000000]        records of workloads 1, 3 (Strata) and 4 against kfake: ~2 GiB
#   RECORDS_W2 [2000000]     records of each workload 2 variant
#   NATS_SYNC_MSGS [100000]  messages of NATS with sync_interval=always (slow)
#   E2E_RATE [51200]         workload 5 records/s (50 MiB/s of 1 KiB records)
#   E2E_DURATION [20s]       workload 5 duration
#   REPEAT [3]               runs of every workload 1-5 cell (the report gives the median),
#                            and clean and unclean restarts of workload 7
#   CATCHUP_GIB [10]         GiB written once for workload 4 at the issue's size (Strata, then
#                            NATS) and read back REPEAT times; workload 7 restarts with that data
#   CRASH_AFTER [2]          seconds of produce at E2E_RATE before each SIGKILL (workload 7)
#   NATS_CATCHUP_REPEAT [1]  reads of the CATCHUP_GIB stream on NATS (~80 s each at ~380 MiB/s)
#   CONSUMERS [3]            workload 4 readers (Strata, kfake: franz-go clients sharing the
#                            partitions; NATS: bench clients), as one client decodes on one core
#   FETCH_SIZE [4194304]     workload 4 max.partition.fetch.bytes of each franz-go reader
#   W6_PARTITIONS [10000]    partitions of the one topic of workload 6
#   W6_RECORDS [200000]      records produced across all of them
#   RECORDS_R [1000000]      records of workloads R1 and R2 (Strata) and R1 (NATS) on three nodes
#   NATS_SYNC_MSGS_R [NATS_SYNC_MSGS] messages of NATS R2 (R3 streams, sync_interval=always)
#   R_E2E_DURATION [10s]     workload R3 duration (at E2E_RATE)
#   E2E_WARMUP [2s]          workloads 5 and R3: the schedule runs this long first, unmeasured
#   R_TRIALS [10]            leader kills of workload R4
#   R4_RATE [2000]           workload R4 records/s
#   TXN_INTERVAL [100ms]     how long each transaction of workloads T1 and T2 stays open
#   TXN_ABORT_EVERY [10]     workload T2 aborts every this-many-th transaction of its producer
#   SUITE [all]              sections to run, any of: startup strata sync txn catchup partitions
#                            kfake nats cluster (for quick partial runs; the report marks the
#                            rest "not measured")
#   OUT [docs/benchmarks.md] where the report goes
#   LOGS_DIR [none]          a directory to keep the servers' logs in (they go with the temp dir)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
GO=${GO:-go}
PY=/usr/bin/python3
OUT=${OUT:-$ROOT/docs/benchmarks.md}
RECORDS=${RECORDS:-2000000}
RECORDS_W2=${RECORDS_W2:-2000000}
RECORDS_R=${RECORDS_R:-1000000}
R_E2E_DURATION=${R_E2E_DURATION:-10s}
R_TRIALS=${R_TRIALS:-10}
R4_RATE=${R4_RATE:-2000}
NATS_SYNC_MSGS=${NATS_SYNC_MSGS:-100000}
NATS_SYNC_MSGS_R=${NATS_SYNC_MSGS_R:-$NATS_SYNC_MSGS}
E2E_RATE=${E2E_RATE:-51200}
E2E_DURATION=${E2E_DURATION:-20s}
E2E_WARMUP=${E2E_WARMUP:-2s}
REPEAT=${REPEAT:-3}
CATCHUP_GIB=${CATCHUP_GIB:-10}
CRASH_AFTER=${CRASH_AFTER:-2}
NATS_CATCHUP_REPEAT=${NATS_CATCHUP_REPEAT:-1}
CONSUMERS=${CONSUMERS:-3}
FETCH_SIZE=${FETCH_SIZE:-4194304}
W6_PARTITIONS=${W6_PARTITIONS:-10000}
W6_RECORDS=${W6_RECORDS:-200000}
TXN_INTERVAL=${TXN_INTERVAL:-100ms}
TXN_ABORT_EVERY=${TXN_ABORT_EVERY:-10}
SUITE=${SUITE:-all}
SIZE=1024
PARTS=6

WORK=$(mktemp -d /tmp/strata-bench.XXXXXX)
BIN=$WORK/bin
RES=$WORK/results.jsonl   # one JSON object per measurement
CMDS=$WORK/commands.txt   # every command run, in order
NOTES=$WORK/notes.txt     # things that went wrong or were skipped
mkdir -p "$BIN"
# portcheck.py PID PORT...: exit 0 when process PID listens on every PORT
# (TCP). Other work on the machine binds ports too: a port free_port handed
# out may be taken before our server binds it, and then another process
# would answer our readiness checks.
cat >"$WORK/portcheck.py" <<'EOF'
import os, sys


def listens(pid, port):
    """Whether process pid has a TCP socket listening on port."""
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return False
    inodes = set()
    for fd in fds:
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port and f[9] in inodes:
                return True
    return False


if __name__ == "__main__":
    pid = int(sys.argv[1])
    sys.exit(0 if all(listens(pid, int(p)) for p in sys.argv[2:]) else 1)
EOF
: >"$RES"
: >"$CMDS"
: >"$NOTES"

# want SECTION: whether SUITE selects SECTION.
want() { [[ $SUITE == all || " $SUITE " == *" $1 "* ]]; }

SERVER_PIDS=()
cpid= # workload 7's producer while it runs
cleanup() {
	local pid
	if [[ -n $cpid ]]; then
		kill -KILL "$cpid" 2>/dev/null || true
	fi
	# servers restarted by workload R4 are not our children: their pids are in restarted.pids
	local more=()
	if [[ -s $WORK/restarted.pids ]]; then
		mapfile -t more <"$WORK/restarted.pids"
	fi
	for pid in "${SERVER_PIDS[@]}" "${more[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${SERVER_PIDS[@]}" "${more[@]}"; do
		wait_gone "$pid" || true
	done
	if [[ -n ${LOGS_DIR:-} ]]; then
		mkdir -p "$LOGS_DIR"
		cp "$WORK"/*.log "$WORK"/*.stderr "$WORK"/notes.txt "$LOGS_DIR/" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '== %s\n' "$*" >&2; }
note() { printf '%s\n' "$*" >>"$NOTES"; log "NOTE: $*"; }

# wait_gone PID [SECONDS]: wait until PID has exited (it may not be our
# child), at most SECONDS (30); then SIGKILL it and return 1.
wait_gone() {
	local pid=$1 secs=${2:-30} i
	if [[ -n ${WRAPPER[$pid]:-} ]]; then
		wait "${WRAPPER[$pid]}" 2>/dev/null || true
	fi
	for ((i = 0; i < secs * 100; i++)); do
		[[ -e /proc/$pid ]] || return 0
		grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && return 0
		sleep 0.01
	done
	local cmd
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-200)
	note "process $pid (${cmd//$BIN\//}) did not exit within $secs s of SIGTERM; sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	return 1
}

# stop PID [SIGNAL]: send SIGNAL (TERM) to one server we started, wait for it
# to exit and set STOP_MS to the time that took.
stop() {
	local pid=$1 sig=${2:-TERM} p keep=() t0=$EPOCHREALTIME
	kill "-$sig" "$pid" 2>/dev/null || true
	wait_gone "$pid" || true
	STOP_MS=$(ms_since "$t0")
	for p in "${SERVER_PIDS[@]}"; do
		[[ $p == "$pid" ]] || keep+=("$p")
	done
	SERVER_PIDS=("${keep[@]+"${keep[@]}"}")
}

# ms_since T0: milliseconds from T0 (an $EPOCHREALTIME) until now.
ms_since() { "$PY" -c 'import sys; print("%.1f" % ((float(sys.argv[2]) - float(sys.argv[1])) * 1000))' "$1" "$EPOCHREALTIME"; }

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
# first 200 (0 without READY_URL; -1 when none came within READY_TIMEOUT
# seconds, default 30). The parent stays to reap the server and is
# remembered in WRAPPER[PID]; stop PID ends both.
declare -A WRAPPER=()
spawn() {
	local log=$1 ready=$WORK/spawn.$RANDOM$RANDOM i out wrapper
	shift
	"$PY" - "$log" "$ready" "$@" <<'EOF' &
import os, subprocess, sys, time, urllib.request
log, ready, cmd, url = sys.argv[1], sys.argv[2], sys.argv[3:], os.environ.get("READY_URL", "")
sys.path.insert(0, os.path.dirname(ready))
from portcheck import listens
with open(log, "ab") as f:
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
ms = 0.0
if url:
    ms, end = -1.0, t0 + float(os.environ.get("READY_TIMEOUT", "30"))
    while p.poll() is None and time.monotonic() < end:
        try:
            if urllib.request.urlopen(url, timeout=1).status == 200:
                ms = (time.monotonic() - t0) * 1000
                if not listens(p.pid, int(url.split("/")[2].rsplit(":", 1)[1])):
                    with open(log, "a") as f:
                        f.write("bench: %s answered, but not from this process (pid %d): port taken?\n" % (url, p.pid))
                    ms = -1.0
                    p.kill()
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
	# the parent writes $ready before it waits for the server, and polls for
	# at most READY_TIMEOUT seconds: wait while it lives
	while [[ ! -e $ready ]] && kill -0 "$wrapper" 2>/dev/null; do
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
elif kind == "nats":  # natscli --csv: one row per client, run side by side
    # (MsgCount counts a publish and its ack twice: use the rate.)
    rows = list(csv.DictReader(open(path)))
    secs = max(float(r["DurationSecs"]) for r in rows)
    msgs = sum(float(r["MsgsPerSec"]) * float(r["DurationSecs"]) for r in rows)
    nbytes = sum(int(r["MsgBytes"]) for r in rows)
    data = {"records_per_sec": msgs / secs, "mb_per_sec": nbytes / secs / 2**20,
            "seconds": secs, "clients": len(rows)}
else:  # a bare JSON value already
    data = json.load(open(path))
print(json.dumps({"id": wid, "system": system, "rep": rep, "data": data}))
EOF
}

# cmd_log CMD...: remember a command for the report, with the binary dir
# shortened; with CMD_TAG set, also in cmds-$CMD_TAG.txt (the report shows
# those under the workload's table).
cmd_log() {
	local s="$*"
	s=${s//$BIN\//}
	printf '%s\n' "${s//$WORK/\$tmp}" >>"$CMDS"
	if [[ -n ${CMD_TAG:-} ]]; then
		printf '%s\n' "${s//$WORK/\$tmp}" >>"$WORK/cmds-$CMD_TAG.txt"
	fi
}

# settle: write back every dirty page before a measured run, so that one run's
# data (gigabytes in the page cache) is not flushed during, and billed to, the next.
settle() { sync; }

# cpu_mark / cpu_record ID SYSTEM REP: with CPU_PIDS set (the server
# processes of a cluster), cpu_mark notes the CPU time the servers and this
# shell's finished children have used so far, and cpu_record, called right
# after the client of a run exited, records what the servers and the client
# used since, in seconds of user plus system time (/proc/PID/stat), as row
# IDcpu. Without CPU_PIDS both do nothing.
CLK_TCK=$(getconf CLK_TCK)
server_ticks() { awk '{s += $14 + $15} END {print s + 0}' $(printf '/proc/%s/stat ' $CPU_PIDS) 2>/dev/null; }
client_ticks() { awk '{print $16 + $17}' "/proc/$$/stat"; }
cpu_mark() {
	[[ -n ${CPU_PIDS:-} ]] || return 0
	CPU_S0=$(server_ticks)
	CPU_C0=$(client_ticks)
}
cpu_record() {
	[[ -n ${CPU_PIDS:-} ]] || return 0
	local s c
	s=$(($(server_ticks) - CPU_S0))
	c=$(($(client_ticks) - CPU_C0))
	json_kv "$WORK/$1-$2-$3.cpu.json" server_cpu_s="$(awk -v t="$s" -v h="$CLK_TCK" 'BEGIN { printf "%.2f", t / h }')" \
		client_cpu_s="$(awk -v t="$c" -v h="$CLK_TCK" 'BEGIN { printf "%.2f", t / h }')"
	record "$1cpu" "$2" json "$WORK/$1-$2-$3.cpu.json" "$3"
}

# sbench ID REP SYSTEM BROKERS ARGS...: one `strata bench` run, recorded.
sbench() {
	local id=$1 rep=$2 system=$3 brokers=$4
	shift 4
	local out=$WORK/$id-$system-$rep.json
	cmd_log strata bench "$@" --brokers "$brokers" --json
	log "$id #$rep $system: strata bench $*"
	settle
	cpu_mark
	if "$BIN/strata" bench "$@" --brokers "$brokers" --json >"$out" 2>>"$WORK/$id-$system.stderr"; then
		cpu_record "$id" "$system" "$rep"
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
HAVE_NATS=0
if want nats || want cluster; then
	HAVE_NATS=1
	cmd_log "GOBIN=\$tmp go install github.com/nats-io/nats-server/v2@latest"
	cmd_log "GOBIN=\$tmp go install github.com/nats-io/natscli/nats@latest"
	if ! GOBIN=$BIN GOFLAGS= "$GO" install github.com/nats-io/nats-server/v2@latest >"$WORK/nats-build.log" 2>&1 ||
		! GOBIN=$BIN GOFLAGS= "$GO" install github.com/nats-io/natscli/nats@latest >>"$WORK/nats-build.log" 2>&1; then
		HAVE_NATS=0
		note "NATS not measured: go install failed: $(tail -n 3 "$WORK/nats-build.log" | tr '\n' ' ')"
	fi
	cmd_log "go build -o natse2e ./bench/peers/natse2e"
	if ((HAVE_NATS)) && ! "$GO" build -o "$BIN/natse2e" ./bench/peers/natse2e >>"$WORK/nats-build.log" 2>&1; then
		note "workload 5 not measured on NATS: natse2e did not build: $(tail -n 3 "$WORK/nats-build.log" | tr '\n' ' ')"
	fi
	cmd_log "go build -o natsparts ./bench/peers/natsparts"
	if ((HAVE_NATS)) && ! "$GO" build -o "$BIN/natsparts" ./bench/peers/natsparts >>"$WORK/nats-build.log" 2>&1; then
		note "workload 6 not measured on NATS: natsparts did not build: $(tail -n 3 "$WORK/nats-build.log" | tr '\n' ' ')"
	fi
fi
if want cluster; then
	cmd_log "go build -o failover ./bench/peers/failover"
	if ! "$GO" build -o "$BIN/failover" ./bench/peers/failover >"$WORK/failover-build.log" 2>&1; then
		note "workload R4 not measured: failover did not build: $(tail -n 3 "$WORK/failover-build.log" | tr '\n' ' ')"
	fi
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
	echo "nofile=$(ulimit -Sn) soft, $(ulimit -Hn) hard"
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
	launch_strata "$name" "$(free_port)" "$(free_port)" "$@" && return 0
	# once more on other ports (another process may have taken one)
	note "strata $name did not start: $(tail -n 2 "$WORK/$name.log" | tr '\n' ' '); trying other ports"
	stop "${SPAWNED% *}"
	launch_strata "$name" "$(free_port)" "$(free_port)" "$@"
}

# restart_strata NAME ARGS...: strata again on NAME's data dir and the last
# start's ports (it must be stopped), with READY_TIMEOUT 600 s since
# recovery may take long; sets what start_strata sets. The log is appended to.
restart_strata() {
	local name=$1
	shift
	READY_TIMEOUT=600 launch_strata "$name" "${SADDR##*:}" "${SADMIN##*:}" "$@"
}

# launch_strata NAME KAFKA_PORT ADMIN_PORT ARGS...: start_strata's work.
launch_strata() {
	local name=$1 kp=$2 ap=$3
	shift 3
	mkdir -p "$WORK/$name"
	cmd_log strata serve --data-dir "$WORK/$name/data" --listen "127.0.0.1:$kp" --admin "127.0.0.1:$ap" "$@"
	READY_URL="http://127.0.0.1:$ap/readyz" spawn "$WORK/$name.log" "$BIN/strata" serve \
		--data-dir "$WORK/$name/data" --listen "127.0.0.1:$kp" --admin "127.0.0.1:$ap" "$@" || return 1
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

# start_nats NAME SYNC: nats-server with JetStream file storage; SYNC "always"
# or "". NREADY_MS is the time from exec to the first 200 from its /healthz
# (JetStream enabled and its streams recovered). The store of an earlier
# start of NAME is kept.
start_nats() {
	launch_nats "$@" && return 0
	# once more on other ports (another process may have taken one)
	note "nats-server $1 did not start: $(tail -n 2 "$WORK/$1.log" | tr '\n' ' '); trying other ports"
	stop "${SPAWNED% *}"
	launch_nats "$@"
}

# launch_nats NAME SYNC: start_nats's work, on ports picked now.
launch_nats() {
	local name=$1 sync=$2 p m
	p=$(free_port)
	m=$(free_port)
	mkdir -p "$WORK/$name"
	{
		echo "listen: \"127.0.0.1:$p\""
		echo "http: \"127.0.0.1:$m\""
		echo "jetstream {"
		echo "  store_dir: \"$WORK/$name/js\""
		[[ -n $sync ]] && echo "  sync_interval: $sync"
		echo "}"
	} >"$WORK/$name/nats.conf"
	cmd_log "nats-server -c nats.conf   # $(tr '\n' ' ' <"$WORK/$name/nats.conf" | tr -s ' ')"
	READY_URL=http://127.0.0.1:$m/healthz READY_TIMEOUT=600 spawn "$WORK/$name.log" "$BIN/nats-server" -c "$WORK/$name/nats.conf" || return 1
	NPID=${SPAWNED% *}
	NREADY_MS=${SPAWNED#* }
	wait_tcp "$p" && "$PY" "$WORK/portcheck.py" "$NPID" "$p" || return 1
	NURL=nats://127.0.0.1:$p
	NMON=127.0.0.1:$m
}

# jsz_field KEY: KEY of the last started NATS's /jsz (streams, messages, bytes), or "?".
jsz_field() {
	"$PY" - "http://$NMON/jsz" "$1" 2>/dev/null <<'EOF' || echo "?"
import json, sys, urllib.request
print(json.load(urllib.request.urlopen(sys.argv[1], timeout=10))[sys.argv[2]])
EOF
}

# nats_down SIG: settle, stop the last started NATS with SIG and set
# NSTOP_MS to the time from the signal to its exit.
nats_down() {
	settle
	stop "$NPID" "$1"
	NSTOP_MS=$STOP_MS
}

# nats_up NAME ID REP: start NATS on NAME's store (stopped by nats_down) and
# record workload 7's row ID for the start; returns 1, with a note, when it
# was not ready within 600 s.
nats_up() {
	local name=$1 id=$2 rep=$3 bytes out=$WORK/$2-nats-$3.json
	bytes=$(du -sb "$WORK/$name/js" | cut -f1)
	log "$id #$rep nats: restart with $((bytes >> 20)) MiB of data"
	NREADY_MS=-1.0
	start_nats "$name" "" || true
	if [[ $NREADY_MS == -1.0 ]]; then
		note "$id on NATS #$rep: not ready within 600 s: $(tail -n 3 "$WORK/$name.log" | tr '\n' ' ')"
		return 1
	fi
	json_kv "$out" poll_ms="$NREADY_MS" stop_ms="$NSTOP_MS" data_bytes="$bytes" rss_kb="$(status_kb "$NPID" VmRSS)"
	record "$id" nats json "$out" "$rep"
	tail -n 1 "$out" >&2
}

# nats_restart KIND SIG: stop NATS with SIG, start it on the same store and
# record workload 7's row KIND for it.
nats_restart() {
	nats_down "$2"
	nats_up nats "w7$1" 1
}

# nrun ID REP ARGS...: one `nats` bench run (ARGS up to its --csv) with
# NCLIENTS [1] clients, recorded.
nrun() {
	local id=$1 rep=$2
	shift 2
	local out=$WORK/$id-nats-$rep.csv
	local args=("$@" --size "$SIZE" --clients "${NCLIENTS:-1}" --no-progress --csv "$out")
	cmd_log nats "${args[@]}" -s "$NURL"
	log "$id #$rep nats: nats ${args[*]}"
	settle
	cpu_mark
	if "$BIN/nats" "${args[@]}" -s "$NURL" >"$WORK/$id-nats-$rep.out" 2>&1; then
		cpu_record "$id" nats "$rep"
		record "$id" nats nats "$out" "$rep"
		grep -m1 'stats:' "$WORK/$id-nats-$rep.out" >&2 || true
	else
		note "$id on NATS failed: $(tail -n 3 "$WORK/$id-nats-$rep.out" | tr '\n' ' ')"
	fi
}

# nbench ID REP MSGS [ARGS...]: NATS JetStream async publish with acks, file
# storage, NREPLICAS [1] replicas, a stream limit of NMAXBYTES [8GB], and ARGS.
nbench() {
	local id=$1 rep=$2 msgs=$3
	shift 3
	nrun "$id" "$rep" bench js pub async "bench.$id.$rep" --stream "bench-$id-$rep" --create --storage file --replicas "${NREPLICAS:-1}" --maxbytes "${NMAXBYTES:-8GB}" \
		--msgs "$msgs" --timeout 60s "$@"
}

# ne2e ID REP DURATION [ARGS...]: an end-to-end run on NATS (workload 5, or
# R3 with --replicas 3) with bench/peers/natse2e, which measures what
# `strata bench e2e` does, to stream bench-ID-REP, recorded like a strata
# bench run.
ne2e() {
	local id=$1 rep=$2 dur=$3 args
	shift 3
	local out=$WORK/$id-nats-$rep.json
	args=(--stream "bench-$id-$rep" --rate "$E2E_RATE" --warmup "$E2E_WARMUP" --duration "$dur" --size "$SIZE" "$@" --json)
	cmd_log natse2e "${args[@]}" -s "$NURL"
	log "$id #$rep nats: natse2e ${args[*]}"
	settle
	cpu_mark
	if "$BIN/natse2e" "${args[@]}" -s "$NURL" >"$out" 2>>"$WORK/$id-nats.stderr"; then
		cpu_record "$id" nats "$rep"
		record "$id" nats strata "$out" "$rep"
		tail -c 400 "$out" >&2
	else
		note "$id on NATS failed: $(tail -n 3 "$WORK/$id-nats.stderr" | tr '\n' ' ')"
	fi
}

# drop_cache: empty the page cache (root only), for the cold restarts.
drop_cache() {
	sync
	echo 3 2>/dev/null >/proc/sys/vm/drop_caches
}

# nconsume ID REP STREAM MSGS: NATS JetStream catch-up read of STREAM with
# CONSUMERS ordered ephemeral consumers sharing MSGS messages.
nconsume() { NCLIENTS=$CONSUMERS nrun "$1" "$2" bench js ordered --stream "$3" --msgs "$4"; }

# drop_topic BROKERS TOPIC / drop_stream STREAM: delete a measured run's
# data, so that the page cache never holds more than about one run's worth.
# On this VM a page cache grown past ~5 GB made every write cost up to twice
# the kernel CPU (DAMON pages out cold cache), which billed the runs that
# came later in the sequence, whatever the system.
drop_topic() {
	cmd_log strata topic delete "$2" --brokers "$1"
	"$BIN/strata" topic delete "$2" --brokers "$1" >/dev/null 2>>"$WORK/drop.stderr" ||
		note "could not delete topic $2: $(tail -n 1 "$WORK/drop.stderr")"
}
drop_stream() {
	cmd_log nats stream rm -f "$1" -s "$NURL"
	"$BIN/nats" stream rm -f "$1" -s "$NURL" >/dev/null 2>>"$WORK/drop.stderr" ||
		note "could not delete stream $1: $(tail -n 1 "$WORK/drop.stderr")"
}

status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
json_mem() { printf '{"idle_rss_kb":%s,"peak_kb":%s}\n' "$1" "$2" >"$WORK/$3"; }

PRODUCE=(--record-size "$SIZE" --partitions "$PARTS")
CONSUME=(--consumers "$CONSUMERS" --fetch-size "$FETCH_SIZE")

# ---------------------------------------------------------------- workloads
# fd_count PID: open file descriptors of PID.
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# count_log NAME: lines of NAME's server log that report a partition it could not open.
count_log() { grep -c 'msg="open partition"' "$WORK/$1.log" || true; }
# ready_field NAME: the startup= field of the last `strata ready` line of NAME's log.
ready_field() { grep 'msg="strata ready"' "$WORK/$1.log" | tail -n 1 | sed -n 's/.* startup=\([^ ]*\).*/\1/p'; }
# json_kv FILE KEY=VALUE...: write one JSON object to FILE; values that parse
# as numbers are numbers, the rest strings.
json_kv() {
	"$PY" - "$@" <<'PYEOF'
import json, sys
d = {}
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    try:
        d[k] = float(v) if "." in v else int(v)
    except ValueError:
        d[k] = v
json.dump(d, open(sys.argv[1], "w"))
PYEOF
}

# 7. Time to ready with an empty data dir: five fresh starts.
if want startup; then
	for i in 1 2 3 4 5; do
		start_strata "startup$i"
		json_kv "$WORK/startup$i.json" poll_ms="$SREADY_MS" startup_field="$(ready_field "startup$i")" rss_kb="$(status_kb "$SPID" VmRSS)"
		record w7start strata json "$WORK/startup$i.json"
		stop "$SPID"
	done
fi

# Strata, default flush policy: workloads 1, 2, 4, 5 and memory. Each
# repetition writes its own topics; workload 4 reads workload 1's first topic.
if want strata; then
	start_strata strata
	sleep 1 # idle
	idle_kb=$(status_kb "$SPID" VmRSS)
	for ((r = 1; r <= REPEAT; r++)); do
		sbench w1 "$r" strata "$SADDR" produce --topic "w1-$r" --records "$RECORDS" --acks all --compression none "${PRODUCE[@]}"
		if ((r == 1)); then
			json_mem "$idle_kb" "$(status_kb "$SPID" VmHWM)" mem-strata.json
			record w7mem strata json "$WORK/mem-strata.json"
			for ((c = 1; c <= REPEAT; c++)); do
				sbench w4 "$c" strata "$SADDR" consume --topic w1-1 "${CONSUME[@]}"
			done
		fi
		drop_topic "$SADDR" "w1-$r"
	done
	for ((r = 1; r <= REPEAT; r++)); do
		sbench w2acks1 "$r" strata "$SADDR" produce --topic "w2a-$r" --records "$RECORDS_W2" --acks 1 --compression none "${PRODUCE[@]}"
		drop_topic "$SADDR" "w2a-$r"
		sbench w2lz4 "$r" strata "$SADDR" produce --topic "w2l-$r" --records "$RECORDS_W2" --acks all --compression lz4 "${PRODUCE[@]}"
		drop_topic "$SADDR" "w2l-$r"
	done
	for ((r = 1; r <= REPEAT; r++)); do
		sbench w5 "$r" strata "$SADDR" e2e --topic "w5-$r" --rate "$E2E_RATE" --warmup "$E2E_WARMUP" --duration "$E2E_DURATION" --acks all "${PRODUCE[@]}"
		drop_topic "$SADDR" "w5-$r"
	done
	stop "$SPID"
	rm -rf "$WORK/strata"
fi

# Strata, fsync before every acknowledgement: workload 3.
if want sync; then
	start_strata strata-sync --set log.flush.interval.messages=1
	for ((r = 1; r <= REPEAT; r++)); do
		sbench w3 "$r" strata "$SADDR" produce --topic "w3-$r" --records "$RECORDS" --acks all --compression none "${PRODUCE[@]}"
		drop_topic "$SADDR" "w3-$r"
	done
	stop "$SPID"
	rm -rf "$WORK/strata-sync"
fi

# Transactions, on one fresh broker. T1: workload 1 as it is (idempotent:
# acks=all, franz-go's default) and the same with --transactional
# --txn-interval TXN_INTERVAL, alternately, REPEAT times each, so both meet
# the same machine. T2: RECORDS records written once in transactions of
# TXN_INTERVAL, every TXN_ABORT_EVERY-th aborted, then read back REPEAT
# times at each isolation level, alternately, by workload 4's readers. The
# broker's and the client's CPU time of every run is recorded too.
if want txn; then
	CMD_TAG=txn
	start_strata txn
	CPU_PIDS=$SPID # the machine is shared: CPU time per run compares where wall time is noisy
	TXN=(--transactional --txn-interval "$TXN_INTERVAL")
	for ((r = 1; r <= REPEAT; r++)); do
		sbench t1idem "$r" strata "$SADDR" produce --topic "t1i-$r" --records "$RECORDS" --acks all --compression none "${PRODUCE[@]}"
		drop_topic "$SADDR" "t1i-$r"
		sbench t1txn "$r" strata "$SADDR" produce --topic "t1t-$r" --records "$RECORDS" --acks all --compression none "${TXN[@]}" "${PRODUCE[@]}"
		drop_topic "$SADDR" "t1t-$r"
	done
	sbench t2load 1 strata "$SADDR" produce --topic t2 --records "$RECORDS" --acks all --compression none "${TXN[@]}" --abort-every "$TXN_ABORT_EVERY" "${PRODUCE[@]}"
	for ((r = 1; r <= REPEAT; r++)); do
		sbench t2ru "$r" strata "$SADDR" consume --topic t2 --isolation-level read_uncommitted "${CONSUME[@]}"
		sbench t2rc "$r" strata "$SADDR" consume --topic t2 --isolation-level read_committed "${CONSUME[@]}"
	done
	stop "$SPID"
	rm -rf "$WORK/txn"
	CMD_TAG= CPU_PIDS=
fi

# Workload 4 at the issue's size, then workload 7's restarts of that data:
# CATCHUP_GIB written once (6 partitions, acks=all), read back REPEAT times;
# then REPEAT clean restarts (SIGTERM, start, first 200 from /readyz) and
# REPEAT unclean ones (CRASH_AFTER s of produce at E2E_RATE to a new topic,
# SIGKILL of the broker mid-produce, start). The page cache is warm
# throughout: recovery reads memory, not the disk.
CATCHUP_RECORDS=$(awk -v g="$CATCHUP_GIB" -v s="$SIZE" 'BEGIN { printf "%d", g * 2^30 / s }')
if want catchup; then
	avail=$(df -B1 --output=avail "$WORK" | tail -n 1)
	need=$(awk -v g="$CATCHUP_GIB" -v b=$((E2E_RATE * SIZE * CRASH_AFTER * REPEAT)) 'BEGIN { printf "%.0f", (g + 3) * 2^30 + b }')
	if ((avail < need)); then
		note "workloads 4 (${CATCHUP_GIB} GiB) and 7 (restarts) not run: $((avail >> 30)) GiB free in $WORK, $((need >> 30)) GiB needed"
	else
		start_strata big
		sbench w4load 1 strata "$SADDR" produce --topic w4big --records "$CATCHUP_RECORDS" --acks all --compression none "${PRODUCE[@]}"
		for ((r = 1; r <= REPEAT; r++)); do
			sbench w4big "$r" strata "$SADDR" consume --topic w4big "${CONSUME[@]}"
		done
		# restart_measure KIND REP: restart "big" (stopped), record workload 7's row.
		restart_measure() {
			local kind=$1 rep=$2 bytes ok=1
			settle
			bytes=$(du -sb "$WORK/big/data" | cut -f1)
			log "w7 #$rep: $kind restart with $((bytes >> 20)) MiB of data"
			restart_strata big || ok=0
			if ((!ok)) || [[ $SREADY_MS == -1.0 ]]; then
				note "w7 $kind restart #$rep: not ready within 600 s: $(tail -n 3 "$WORK/big.log" | tr '\n' ' ')"
				return 1
			fi
			json_kv "$WORK/w7-$kind-$rep.json" poll_ms="$SREADY_MS" startup_field="$(ready_field big)" \
				stop_ms="$LAST_STOP_MS" data_bytes="$bytes" rss_kb="$(status_kb "$SPID" VmRSS)"
			record "w7$kind" strata json "$WORK/w7-$kind-$rep.json" "$rep"
			tail -n 1 "$WORK/w7-$kind-$rep.json" >&2
		}
		for ((r = 1; r <= REPEAT; r++)); do
			stop "$SPID"
			LAST_STOP_MS=$STOP_MS
			restart_measure clean "$r" || break
		done
		crash=(produce --topic w7crash-R --duration 1h --rate "$E2E_RATE" --timeout 3s "${PRODUCE[@]}")
		cmd_log strata bench "${crash[@]}" --brokers "$SADDR" "&  # R = 1..$REPEAT; SIGKILL the broker after ${CRASH_AFTER}s"
		# crash_run R: produce to w7crash-R, SIGKILL the broker after CRASH_AFTER s.
		crash_run() {
			"$BIN/strata" bench "${crash[@]/w7crash-R/w7crash-$1}" --brokers "$SADDR" >/dev/null 2>>"$WORK/w7crash.stderr" &
			cpid=$!
			sleep "$CRASH_AFTER"
			stop "$SPID" KILL
			LAST_STOP_MS=$STOP_MS
			# the producer's records now fail after --timeout, or it hangs: end it
			kill -TERM "$cpid" 2>/dev/null || true
			wait_gone "$cpid" 5 || true
			wait "$cpid" 2>/dev/null || true
			cpid=
		}
		for ((r = 1; r <= REPEAT; r++)); do
			crash_run "$r"
			restart_measure unclean "$r" || break
		done
		# Once each with the page cache emptied before the start: recovery
		# then reads the disk.
		if [[ -e /proc/$SPID ]]; then
			stop "$SPID"
			LAST_STOP_MS=$STOP_MS
			cmd_log "sync; echo 3 >/proc/sys/vm/drop_caches   # before each cold start"
			if drop_cache; then
				restart_measure coldclean 1 &&
					crash_run cold && drop_cache && restart_measure coldunclean 1
			else
				note "w7 cold restarts not run: cannot write /proc/sys/vm/drop_caches (needs root)"
			fi
		fi
		if [[ -e /proc/$SPID ]]; then
			stop "$SPID"
		fi
		grep -E 'level=(WARN|ERROR)' "$WORK/big.log" | head -n 5 >"$WORK/w7-warnings.txt" || true
		rm -rf "$WORK/big"
	fi
fi

# NATS JetStream, the same at the issue's size: CATCHUP_RECORDS messages
# published once to one stream (async publish with acks, as workload 1),
# read back REPEAT times by workload 4's ordered consumers; then REPEAT clean
# restarts (SIGTERM, start on the same store, first 200 from /healthz) and
# REPEAT unclean ones (CRASH_AFTER s of `nats bench` publishing at E2E_RATE
# to a new stream, SIGKILL of the server mid-publish, start), then once
# each with the page cache emptied before the start. It runs after Strata's
# 10 GiB were deleted, so that the two never share the disk or page cache.
if want catchup && ((HAVE_NATS)); then
	avail=$(df -B1 --output=avail "$WORK" | tail -n 1)
	need=$(awk -v g="$CATCHUP_GIB" -v b=$((E2E_RATE * SIZE * CRASH_AFTER * (REPEAT + 1))) 'BEGIN { printf "%.0f", (g + 3) * 2^30 + b }')
	if ((avail < need)); then
		note "workloads 4 (${CATCHUP_GIB} GiB) and 7 (restarts) not run on NATS: $((avail >> 30)) GiB free in $WORK, $((need >> 30)) GiB needed"
	else
		nbig_t0=$EPOCHREALTIME
		start_nats nbig ""
		# a stream limit with room for JetStream's per-message overhead (a
		# stream at its limit refuses more); %.0f, as mawk's %d stops at 2^31-1
		NMAXBYTES=$(awk -v g="$CATCHUP_GIB" 'BEGIN { printf "%.0f", (g * 1.25 + 1) * 2^30 }') \
			nbench w4load 1 "$CATCHUP_RECORDS"
		# the readers wait for every message: with fewer they would wait forever
		nmsgs=$(jsz_field messages)
		if [[ $nmsgs != "$CATCHUP_RECORDS" ]]; then
			note "workloads 4 (${CATCHUP_GIB} GiB) and 7 (restarts) not run on NATS: its stream holds $nmsgs of $CATCHUP_RECORDS messages"
		else
			for ((r = 1; r <= NATS_CATCHUP_REPEAT; r++)); do
				nconsume w4big "$r" bench-w4load-1 "$CATCHUP_RECORDS"
			done
			for ((r = 1; r <= REPEAT; r++)); do
				nats_down TERM
				nats_up nbig w7clean "$r" || break
			done
			ncrash=(bench js pub async nw7crash.R --stream nw7crash-R --create --storage file --replicas 1 --maxbytes 1GB
				--throughput "$E2E_RATE" --duration 1h --size "$SIZE" --no-progress --timeout 3s)
			cmd_log nats "${ncrash[@]}" -s "$NURL" "&  # R = 1..$REPEAT; SIGKILL the server after ${CRASH_AFTER}s"
			# ncrash_run R: publish to nw7crash-R, SIGKILL the server after CRASH_AFTER s.
			ncrash_run() {
				local a=("${ncrash[@]/#nw7crash.R/nw7crash.$1}")
				"$BIN/nats" "${a[@]/#nw7crash-R/nw7crash-$1}" -s "$NURL" >/dev/null 2>>"$WORK/nw7crash.stderr" &
				cpid=$!
				sleep "$CRASH_AFTER"
				nats_down KILL
				# the publisher's acks now time out, or it keeps reconnecting: end it
				kill -TERM "$cpid" 2>/dev/null || true
				wait_gone "$cpid" 5 || true
				wait "$cpid" 2>/dev/null || true
				cpid=
			}
			for ((r = 1; r <= REPEAT; r++)); do
				[[ -e /proc/$NPID ]] || break
				ncrash_run "$r"
				nats_up nbig w7unclean "$r" || break
			done
			if [[ -e /proc/$NPID ]]; then
				nats_down TERM
				cmd_log "sync; echo 3 >/proc/sys/vm/drop_caches   # before each cold start"
				if drop_cache; then
					nats_up nbig w7coldclean 1 &&
						ncrash_run cold && drop_cache && nats_up nbig w7coldunclean 1
				else
					note "w7 cold restarts not run on NATS: cannot write /proc/sys/vm/drop_caches (needs root)"
				fi
			fi
		fi
		if [[ -e /proc/$NPID ]]; then
			stop "$NPID"
		fi
		rm -rf "$WORK/nbig"
		log "NATS workloads 4 and 7 at ${CATCHUP_GIB} GiB took $(ms_since "$nbig_t0") ms"
	fi
fi

# Workload 6: one topic of W6_PARTITIONS partitions on one node: create
# time, produce to all of them, restart time, memory and file descriptors.
# The broker runs under this shell's open-files limit (machine.txt).
if want partitions; then
	start_strata parts
	fds_idle=$(fd_count "$SPID")
	cmd_log strata topic create w6 --partitions "$W6_PARTITIONS" --timeout 120s --brokers "$SADDR"
	log "w6 strata: topic create w6 --partitions $W6_PARTITIONS"
	t0=$EPOCHREALTIME
	create_ok=1
	"$BIN/strata" topic create w6 --partitions "$W6_PARTITIONS" --timeout 120s --brokers "$SADDR" >"$WORK/w6-create.out" 2>&1 || create_ok=0
	create_ms=$(ms_since "$t0")
	((create_ok)) || note "w6 on strata: topic create failed: $(tail -n 3 "$WORK/w6-create.out" | tr '\n' ' ')"
	fds_create=$(fd_count "$SPID")
	rss_create=$(status_kb "$SPID" VmRSS)
	errs_create=$(count_log parts)
	sbench w6produce 1 strata "$SADDR" produce --topic w6 --records "$W6_RECORDS" --acks all --compression none --partitioner round-robin \
		--record-size "$SIZE" --partitions "$W6_PARTITIONS"
	fds_produce=$(fd_count "$SPID")
	peak_kb=$(status_kb "$SPID" VmHWM)
	stop "$SPID"
	stop_ms=$STOP_MS
	restarted=1
	restart_strata parts || restarted=0
	if ((restarted)) && [[ $SREADY_MS != -1.0 ]]; then
		sleep 1 # idle
		json_kv "$WORK/w6-strata.json" partitions="$W6_PARTITIONS" create_ok="$create_ok" create_ms="$create_ms" \
			fds_idle="$fds_idle" fds_after_create="$fds_create" rss_after_create_kb="$rss_create" \
			open_errors_create="$errs_create" fds_after_produce="$fds_produce" peak_kb="$peak_kb" stop_ms="$stop_ms" \
			restart_ms="$SREADY_MS" restart_field="$(ready_field parts)" idle_rss_kb="$(status_kb "$SPID" VmRSS)" \
			fds_after_restart="$(fd_count "$SPID")" open_errors_restart="$(($(count_log parts) - errs_create))"
		stop "$SPID"
	else
		note "w6 on strata: restart with $W6_PARTITIONS partitions not ready: $(tail -n 3 "$WORK/parts.log" | tr '\n' ' ')"
		json_kv "$WORK/w6-strata.json" partitions="$W6_PARTITIONS" create_ok="$create_ok" create_ms="$create_ms" \
			fds_idle="$fds_idle" fds_after_create="$fds_create" rss_after_create_kb="$rss_create" \
			open_errors_create="$errs_create" fds_after_produce="$fds_produce" peak_kb="$peak_kb" stop_ms="$stop_ms"
	fi
	record w6 strata json "$WORK/w6-strata.json"
	cat "$WORK/w6-strata.json" >&2
	if grep -q 'msg="open partition"' "$WORK/parts.log"; then
		note "w6 on strata: $(count_log parts) log lines \`open partition\` (partitions not opened), the first: $(grep -m1 'msg="open partition"' "$WORK/parts.log")"
	fi
	rm -rf "$WORK/parts"

	# kfake, the same (no restart: it keeps nothing)
	start_kfake
	fds_idle=$(fd_count "$KPID")
	cmd_log strata topic create w6 --partitions "$W6_PARTITIONS" --timeout 120s --brokers "$KADDR"
	t0=$EPOCHREALTIME
	create_ok=1
	"$BIN/strata" topic create w6 --partitions "$W6_PARTITIONS" --timeout 120s --brokers "$KADDR" >"$WORK/w6-kfake-create.out" 2>&1 || create_ok=0
	create_ms=$(ms_since "$t0")
	((create_ok)) || note "w6 on kfake: topic create failed: $(tail -n 3 "$WORK/w6-kfake-create.out" | tr '\n' ' ')"
	fds_create=$(fd_count "$KPID")
	rss_create=$(status_kb "$KPID" VmRSS)
	sbench w6produce 1 kfake "$KADDR" produce --topic w6 --records "$W6_RECORDS" --acks all --compression none --partitioner round-robin \
		--record-size "$SIZE" --partitions "$W6_PARTITIONS"
	json_kv "$WORK/w6-kfake.json" partitions="$W6_PARTITIONS" create_ok="$create_ok" create_ms="$create_ms" \
		fds_idle="$fds_idle" fds_after_create="$fds_create" rss_after_create_kb="$rss_create" \
		fds_after_produce="$(fd_count "$KPID")" peak_kb="$(status_kb "$KPID" VmHWM)"
	record w6 kfake json "$WORK/w6-kfake.json"
	stop "$KPID"

	# NATS JetStream, the same with a stream per partition (a Kafka partition
	# is a separate log; in JetStream that is a stream): W6_PARTITIONS streams
	# created one at a time, W6_RECORDS messages published round-robin over
	# them, acknowledged when stored (bench/peers/natsparts). The restart is
	# ready at the first 200 from /healthz, which on one server waits until
	# every stream in the store was recovered.
	if ((HAVE_NATS)) && [[ -x $BIN/natsparts ]]; then
		start_nats nparts ""
		fds_idle=$(fd_count "$NPID")
		nargs=(--prefix w6 --streams "$W6_PARTITIONS")
		cmd_log natsparts create "${nargs[@]}" -s "$NURL"
		log "w6 nats: natsparts create ${nargs[*]}"
		t0=$EPOCHREALTIME
		create_ok=1
		"$BIN/natsparts" create "${nargs[@]}" -s "$NURL" >"$WORK/w6-nats-create.out" 2>&1 || create_ok=0
		create_ms=$(ms_since "$t0")
		((create_ok)) || note "w6 on NATS: stream create failed: $(tail -n 3 "$WORK/w6-nats-create.out" | tr '\n' ' ')"
		fds_create=$(fd_count "$NPID")
		rss_create=$(status_kb "$NPID" VmRSS)
		nargs+=(--records "$W6_RECORDS" --size "$SIZE")
		cmd_log natsparts publish "${nargs[@]}" -s "$NURL"
		log "w6 nats: natsparts publish ${nargs[*]}"
		settle
		if "$BIN/natsparts" publish "${nargs[@]}" -s "$NURL" >"$WORK/w6produce-nats.json" 2>>"$WORK/w6-nats.stderr"; then
			record w6produce nats strata "$WORK/w6produce-nats.json"
			tail -c 400 "$WORK/w6produce-nats.json" >&2
		else
			note "w6 on NATS: publish failed: $(tail -n 3 "$WORK/w6-nats.stderr" | tr '\n' ' ')"
		fi
		fds_produce=$(fd_count "$NPID")
		peak_kb=$(status_kb "$NPID" VmHWM)
		stop "$NPID"
		stop_ms=$STOP_MS
		# start_nats keeps nparts' store; a start that is not ready within
		# READY_TIMEOUT leaves NREADY_MS at -1.0
		NREADY_MS=-1.0
		start_nats nparts "" || true
		if [[ $NREADY_MS != -1.0 ]]; then
			sleep 1 # idle
			json_kv "$WORK/w6-nats.json" partitions="$W6_PARTITIONS" create_ok="$create_ok" create_ms="$create_ms" \
				fds_idle="$fds_idle" fds_after_create="$fds_create" rss_after_create_kb="$rss_create" \
				fds_after_produce="$fds_produce" peak_kb="$peak_kb" stop_ms="$stop_ms" restart_ms="$NREADY_MS" \
				idle_rss_kb="$(status_kb "$NPID" VmRSS)" fds_after_restart="$(fd_count "$NPID")" \
				streams_after_restart="$(jsz_field streams)" messages_after_restart="$(jsz_field messages)"
		else
			note "w6 on NATS: restart with $W6_PARTITIONS streams not ready: $(tail -n 3 "$WORK/nparts.log" | tr '\n' ' ')"
			json_kv "$WORK/w6-nats.json" partitions="$W6_PARTITIONS" create_ok="$create_ok" create_ms="$create_ms" \
				fds_idle="$fds_idle" fds_after_create="$fds_create" rss_after_create_kb="$rss_create" \
				fds_after_produce="$fds_produce" peak_kb="$peak_kb" stop_ms="$stop_ms"
		fi
		record w6 nats json "$WORK/w6-nats.json"
		cat "$WORK/w6-nats.json" >&2
		if [[ -e /proc/$NPID ]]; then
			stop "$NPID"
		fi
		rm -rf "$WORK/nparts"
	fi
fi

# kfake: a fresh in-memory cluster per run, so it never holds more than one
# run's data (~2 GiB); workload 4 reads the last workload 1 run's topic.
if want kfake; then
	for ((r = 1; r <= REPEAT; r++)); do
		start_kfake
		if ((r == 1)); then
			sleep 1
			idle_kb=$(status_kb "$KPID" VmRSS)
		fi
		sbench w1 "$r" kfake "$KADDR" produce --topic "w1-$r" --records "$RECORDS" --acks all --compression none "${PRODUCE[@]}"
		if ((r == 1)); then
			json_mem "$idle_kb" "$(status_kb "$KPID" VmHWM)" mem-kfake.json
			record w7mem kfake json "$WORK/mem-kfake.json"
		fi
		if ((r == REPEAT)); then
			for ((c = 1; c <= REPEAT; c++)); do
				sbench w4 "$c" kfake "$KADDR" consume --topic "w1-$r" "${CONSUME[@]}"
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
		sbench w5 "$r" kfake "$KADDR" e2e --topic "w5-$r" --rate "$E2E_RATE" --warmup "$E2E_WARMUP" --duration "$E2E_DURATION" --acks all "${PRODUCE[@]}"
		stop "$KPID"
	done
fi

# NATS JetStream: workload 1, and workload 3 with sync_interval=always. Each
# repetition publishes to its own stream.
if want nats && ((HAVE_NATS)); then
	for i in 1 2 3 4 5; do
		start_nats "nstart$i" ""
		json_kv "$WORK/nstart$i.json" poll_ms="$NREADY_MS" rss_kb="$(status_kb "$NPID" VmRSS)"
		record w7start nats json "$WORK/nstart$i.json"
		stop "$NPID"
		rm -rf "$WORK/nstart$i"
	done
	start_nats nats ""
	sleep 1
	idle_kb=$(status_kb "$NPID" VmRSS)
	for ((r = 1; r <= REPEAT; r++)); do
		nbench w1 "$r" "$RECORDS"
		if ((r == 1)); then
			json_mem "$idle_kb" "$(status_kb "$NPID" VmHWM)" mem-nats.json
			record w7mem nats json "$WORK/mem-nats.json"
			for ((c = 1; c <= REPEAT; c++)); do
				nconsume w4 "$c" bench-w1-1 "$RECORDS"
			done
			# Workload 7 for NATS, with workload 1's stream: a clean
			# restart, then one after SIGKILL of the idle server.
			nats_restart nclean TERM
			nats_restart nunclean KILL
		fi
		drop_stream "bench-w1-$r"
		nbench w2acks1 "$r" "$RECORDS_W2" --persistasync
		drop_stream "bench-w2acks1-$r"
		if [[ -x $BIN/natse2e ]]; then
			ne2e w5 "$r" "$E2E_DURATION"
			drop_stream "bench-w5-$r"
		fi
	done
	stop "$NPID"
	rm -rf "$WORK/nats"
	start_nats nats-sync always
	for ((r = 1; r <= REPEAT; r++)); do
		nbench w3 "$r" "$NATS_SYNC_MSGS"
		drop_stream "bench-w3-$r"
	done
	stop "$NPID"
	rm -rf "$WORK/nats-sync"
fi

# ---------------------------------------------------------------- three nodes
# Workloads R1-R4 on three-node clusters on this one machine, each node its
# own process with its own data dir under $WORK: every node and the load
# generator share the machine's cores. Strata: three `strata serve` nodes,
# all controller voters, default.replication.factor=3, min.insync.replicas=2;
# NATS: three nats-servers with routes to one another and R3 streams.

# cpu_psi: the share of time some runnable task waited for a CPU over the
# last 60 s and 300 s (/proc/pressure/cpu), or "?".
cpu_psi() {
	sed -n 's/^some avg10=[^ ]* avg60=\([^ ]*\) avg300=\([^ ]*\).*/\1% (60 s), \2% (300 s)/p' /proc/pressure/cpu 2>/dev/null || echo "?"
}

# wait_urls TIMEOUT URL...: poll until every URL answers 200 (a NATS /jsz URL
# must also name a meta leader) and print the milliseconds that took; fail
# after TIMEOUT seconds.
wait_urls() {
	"$PY" - "$@" <<'EOF'
import json, sys, time, urllib.request
timeout, pending = float(sys.argv[1]), sys.argv[2:]
t0 = time.monotonic()
while pending and time.monotonic() < t0 + timeout:
    for u in list(pending):
        try:
            r = urllib.request.urlopen(u, timeout=1)
            if r.status == 200 and (not u.endswith("/jsz") or (json.load(r).get("meta_cluster") or {}).get("leader")):
                pending.remove(u)
        except Exception:
            pass
    if pending:
        time.sleep(0.01)
if pending:
    sys.exit("not ready after %g s: %s" % (timeout, " ".join(pending)))
print("%.1f" % ((time.monotonic() - t0) * 1000))
EOF
}

# cluster_node NAME ID LOG PORTS ARGV...: start node ID of cluster NAME (no
# readiness wait), remember its pid in $WORK/NAME/pid.ID and the ports it
# must listen on (PORTS, space-separated) in $WORK/NAME/ports.ID, and add it
# to $WORK/NAME/restart.sh, which starts node ID again with the same command
# after a kill and prints the new pid (for workload R4).
cluster_node() {
	local name=$1 id=$2 log=$3
	echo "$4" >"$WORK/$name/ports.$id"
	shift 4
	spawn "$log" "$@"
	echo "${SPAWNED% *}" >"$WORK/$name/pid.$id"
	printf '%s) argv=(%s) log=%q ;;\n' "$id" "$(printf '%q ' "$@")" "$log" >>"$WORK/$name/restart.sh"
}

# cluster_begin NAME / cluster_end NAME: the restart script's head and tail.
cluster_begin() {
	mkdir -p "$WORK/$1"
	printf '%s\n' '#!/usr/bin/env bash' '# restart.sh ID: start node ID again; prints its pid' 'case $1 in' >"$WORK/$1/restart.sh"
}
cluster_end() {
	cat >>"$WORK/$1/restart.sh" <<EOF
*) echo "restart.sh: no node \$1" >&2; exit 2 ;;
esac
"\${argv[@]}" >>"\$log" 2>&1 </dev/null &
echo \$! >>"$WORK/restarted.pids"
echo \$! >"$WORK/$1/pid.\$1"
echo \$!
EOF
}

# start_strata_cluster NAME ARGS...: three fresh `strata serve` nodes on free
# ports, each a controller voter, with ARGS; sets CL_BROKERS (the Kafka
# listeners, comma-separated) and CL_READY_MS (first start to every node's
# /readyz answering 200). Returns 1, with a note, when they are not ready
# within 60 s.
start_strata_cluster() {
	local name=$1 i voters=
	shift
	local -a kp ap rp urls=()
	for i in 1 2 3; do
		kp[i]=$(free_port)
		ap[i]=$(free_port)
		rp[i]=$(free_port)
		voters+=${voters:+,}$i@127.0.0.1:${rp[i]}
	done
	cluster_begin "$name"
	local t0=$EPOCHREALTIME
	CL_BROKERS=
	for i in 1 2 3; do
		local args=(serve --node-id "$i" --listen "127.0.0.1:${kp[i]}" --admin "127.0.0.1:${ap[i]}" --data-dir "$WORK/$name/node$i"
			--controller-listen "127.0.0.1:${rp[i]}" --controller-voters "$voters" "$@")
		CMD_TAG=rcluster cmd_log strata "${args[@]}"
		cluster_node "$name" "$i" "$WORK/$name/node$i.log" "${kp[i]} ${ap[i]} ${rp[i]}" "$BIN/strata" "${args[@]}"
		CL_BROKERS+=${CL_BROKERS:+,}127.0.0.1:${kp[i]}
		urls+=("http://127.0.0.1:${ap[i]}/readyz")
	done
	cluster_end "$name"
	cluster_ready "$name" "Strata cluster" "$t0" "${urls[@]}"
}

# start_nats_cluster NAME SYNC: three nats-servers (server_name n1-n3,
# cluster NAME, routes to one another, JetStream file storage each in its own
# store dir; SYNC "always" or ""); sets NURL to their client URLs,
# comma-separated, and CL_READY_MS (to every /healthz answering 200 and /jsz
# naming a meta leader). Returns 1, with a note, when not ready within 60 s.
start_nats_cluster() {
	local name=$1 sync=$2 i routes=
	local -a cp hp rp urls=()
	for i in 1 2 3; do
		cp[i]=$(free_port)
		hp[i]=$(free_port)
		rp[i]=$(free_port)
		routes+="${routes:+, }\"nats-route://127.0.0.1:${rp[i]}\""
	done
	cluster_begin "$name"
	local t0=$EPOCHREALTIME
	NURL=
	for i in 1 2 3; do
		{
			echo "server_name: n$i"
			echo "listen: \"127.0.0.1:${cp[i]}\""
			echo "http: \"127.0.0.1:${hp[i]}\""
			echo "cluster {"
			echo "  name: $name"
			echo "  listen: \"127.0.0.1:${rp[i]}\""
			echo "  routes: [$routes]"
			echo "}"
			echo "jetstream {"
			echo "  store_dir: \"$WORK/$name/js$i\""
			[[ -n $sync ]] && echo "  sync_interval: $sync"
			echo "}"
		} >"$WORK/$name/n$i.conf"
		CMD_TAG=rcluster cmd_log "nats-server -c n$i.conf   # $(tr '\n' ' ' <"$WORK/$name/n$i.conf" | tr -s ' ')"
		cluster_node "$name" "$i" "$WORK/$name/node$i.log" "${cp[i]} ${hp[i]} ${rp[i]}" "$BIN/nats-server" -c "$WORK/$name/n$i.conf"
		NURL+=${NURL:+,}nats://127.0.0.1:${cp[i]}
		urls+=("http://127.0.0.1:${hp[i]}/healthz" "http://127.0.0.1:${hp[i]}/jsz")
	done
	cluster_end "$name"
	cluster_ready "$name" "NATS cluster" "$t0" "${urls[@]}"
}

# cluster_ready NAME WHAT T0 URL...: wait (60 s at most) until every URL
# says ready and every node of cluster NAME listens on its own ports (if
# not, another process took one and may have answered the checks); set
# CL_READY_MS to the time since T0. Otherwise note what wait_urls reported
# and the last lines of every node's log, stop the cluster and return 1.
cluster_ready() {
	local name=$1 what=$2 t0=$3 i msg ok=0
	shift 3
	if wait_urls 60 "$@" >/dev/null 2>"$WORK/$name/ready.err"; then
		ok=1
		for i in 1 2 3; do
			# shellcheck disable=SC2046 # a list of ports
			if ! "$PY" "$WORK/portcheck.py" "$(<"$WORK/$name/pid.$i")" $(<"$WORK/$name/ports.$i"); then
				echo "node $i does not listen on all of ports $(<"$WORK/$name/ports.$i")" >"$WORK/$name/ready.err"
				ok=0
				break
			fi
		done
	fi
	if ((ok)); then
		CL_READY_MS=$(ms_since "$t0")
		return 0
	fi
	msg="$what $name not ready: $(<"$WORK/$name/ready.err")"
	for i in 1 2 3; do
		msg+="; node $i's log ends: $(tail -n 3 "$WORK/$name/node$i.log" | cut -c1-300 | tr '\n' ' ')"
	done
	note "$msg"
	stop_cluster "$name"
	return 1
}

# stop_cluster NAME: SIGTERM every node of NAME that runs, and wait for it;
# with LOGS_DIR set, copy the nodes' logs there first.
stop_cluster() {
	local i
	for i in 1 2 3; do
		stop "$(<"$WORK/$1/pid.$i")"
	done
	if [[ -n ${LOGS_DIR:-} ]]; then
		mkdir -p "$LOGS_DIR/$1"
		cp "$WORK/$1"/node*.log "$LOGS_DIR/$1/"
	fi
}

# strata_log_notes NAME: a note for every node log of Strata cluster NAME
# with ERROR lines or a panic.
strata_log_notes() {
	local f n
	for f in "$WORK/$1"/node*.log; do
		n=$(grep -c -E 'level=ERROR|^panic:|^fatal error:' "$f" || true)
		if ((n > 0)); then
			note "Strata cluster, ${f##*/}: $n ERROR or panic lines, the first: $(grep -m1 -E 'level=ERROR|^panic:|^fatal error:' "$f" | cut -c1-400)"
		fi
	done
}

# rfailover SYSTEM NAME ARGS...: workload R4 with bench/peers/failover
# against cluster NAME (ARGS: --brokers or --nats), recorded.
rfailover() {
	local system=$1 name=$2 i pids=
	shift 2
	for i in 1 2 3; do
		pids+=${pids:+,}$i=$(<"$WORK/$name/pid.$i")
	done
	local restart="bash $WORK/$name/restart.sh {id}"
	local args=(--topic r4 --trials "$R_TRIALS" --rate "$R4_RATE" --size "$SIZE" "$@")
	CMD_TAG=r4 cmd_log failover "${args[@]}" --pids "$pids" --restart "'$restart'"
	log "r4 $system: failover ${args[*]} --pids $pids"
	settle
	if timeout 1200 "$BIN/failover" "${args[@]}" --pids "$pids" --restart "$restart" >"$WORK/r4-$system.json" 2>"$WORK/r4-$system.stderr"; then
		record r4 "$system" json "$WORK/r4-$system.json"
		tail -n "$((R_TRIALS + 1))" "$WORK/r4-$system.stderr" >&2
	else
		note "R4 on $system failed: $(tail -n 3 "$WORK/r4-$system.stderr" | tr '\n' ' ')"
		# its summary of the trials so far, when it printed one
		if [[ -s $WORK/r4-$system.json ]]; then
			record r4 "$system" json "$WORK/r4-$system.json" || true
		fi
	fi
}

if want cluster; then
	r_t0=$EPOCHREALTIME
	echo "load_r_before=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/machine.txt"
	echo "cpu_psi_r_before=$(cpu_psi)" >>"$WORK/machine.txt"
	R_PRODUCE=(--record-size "$SIZE" --partitions "$PARTS" --replication-factor 3)
	R_STRATA_SET=(--set default.replication.factor=3 --set min.insync.replicas=2)
	# once more on fresh ports and data dirs if the first start fails (another
	# process may have taken a port free_port handed out)
	if start_strata_cluster scl "${R_STRATA_SET[@]}" || { rm -rf "$WORK/scl" && start_strata_cluster scl "${R_STRATA_SET[@]}"; }; then
		json_kv "$WORK/rstart-strata.json" ready_ms="$CL_READY_MS"
		record rstart strata json "$WORK/rstart-strata.json"
		CPU_PIDS="$(cat "$WORK"/scl/pid.[123])"
		# R1: workload 1 with replication factor 3
		for ((r = 1; r <= REPEAT; r++)); do
			CMD_TAG=r1 sbench r1 "$r" strata "$CL_BROKERS" produce --topic "r1-$r" --records "$RECORDS_R" --acks all --compression none "${R_PRODUCE[@]}"
			drop_topic "$CL_BROKERS" "r1-$r"
		done
		# R2: the same to a topic with flush.messages=1
		for ((r = 1; r <= REPEAT; r++)); do
			create=(topic create "r2-$r" --partitions "$PARTS" --replication-factor 3 -c flush.messages=1 --brokers "$CL_BROKERS")
			CMD_TAG=r2 cmd_log strata "${create[@]}"
			if "$BIN/strata" "${create[@]}" >/dev/null 2>"$WORK/r2-create.err"; then
				CMD_TAG=r2 sbench r2 "$r" strata "$CL_BROKERS" produce --topic "r2-$r" --records "$RECORDS_R" --acks all --compression none "${R_PRODUCE[@]}"
				drop_topic "$CL_BROKERS" "r2-$r"
			else
				note "R2 on strata: topic create failed: $(tail -n 2 "$WORK/r2-create.err" | tr '\n' ' ')"
			fi
		done
		# R3: workload 5 with replication factor 3
		for ((r = 1; r <= REPEAT; r++)); do
			CMD_TAG=r3 sbench r3 "$r" strata "$CL_BROKERS" e2e --topic "r3-$r" --rate "$E2E_RATE" --warmup "$E2E_WARMUP" --duration "$R_E2E_DURATION" --acks all "${R_PRODUCE[@]}"
			drop_topic "$CL_BROKERS" "r3-$r"
		done
		CPU_PIDS=
		if [[ -x $BIN/failover ]]; then
			rfailover strata scl --brokers "$CL_BROKERS"
		fi
		stop_cluster scl
		strata_log_notes scl
	fi
	rm -rf "$WORK/scl"
	if ((HAVE_NATS)); then
		if start_nats_cluster ncl "" || { rm -rf "$WORK/ncl" && start_nats_cluster ncl ""; }; then
			json_kv "$WORK/rstart-nats.json" ready_ms="$CL_READY_MS"
			record rstart nats json "$WORK/rstart-nats.json"
			CPU_PIDS="$(cat "$WORK"/ncl/pid.[123])"
			for ((r = 1; r <= REPEAT; r++)); do
				CMD_TAG=r1 NREPLICAS=3 nbench r1 "$r" "$RECORDS_R"
				drop_stream "bench-r1-$r"
			done
			if [[ -x $BIN/natse2e ]]; then
				for ((r = 1; r <= REPEAT; r++)); do
					CMD_TAG=r3 ne2e r3 "$r" "$R_E2E_DURATION" --replicas 3
					drop_stream "bench-r3-$r"
				done
			fi
			CPU_PIDS=
			if [[ -x $BIN/failover ]]; then
				rfailover nats ncl --nats "$NURL"
			fi
			stop_cluster ncl
		fi
		rm -rf "$WORK/ncl"
		if start_nats_cluster ncls always || { rm -rf "$WORK/ncls" && start_nats_cluster ncls always; }; then
			CPU_PIDS="$(cat "$WORK"/ncls/pid.[123])"
			for ((r = 1; r <= REPEAT; r++)); do
				CMD_TAG=r2 NREPLICAS=3 nbench r2 "$r" "$NATS_SYNC_MSGS_R"
				drop_stream "bench-r2-$r"
			done
			CPU_PIDS=
			stop_cluster ncls
		fi
		rm -rf "$WORK/ncls"
	fi
	echo "load_r_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/machine.txt"
	echo "cpu_psi_r_after=$(cpu_psi)" >>"$WORK/machine.txt"
	log "workloads R1-R4 took $(ms_since "$r_t0") ms"
fi
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/machine.txt"

# ---------------------------------------------------------------- report
export RECORDS_R NATS_SYNC_MSGS_R R_E2E_DURATION R_TRIALS R4_RATE E2E_WARMUP
export TXN_INTERVAL TXN_ABORT_EVERY RECORDS RECORDS_W2 NATS_SYNC_MSGS NATS_CATCHUP_REPEAT E2E_RATE E2E_DURATION SIZE PARTS REPEAT CATCHUP_GIB CATCHUP_RECORDS CRASH_AFTER W6_PARTITIONS W6_RECORDS SUITE CONSUMERS FETCH_SIZE
"$PY" "$ROOT/bench/report.py" "$WORK" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "wrote ${OUT#"$ROOT"/}"
