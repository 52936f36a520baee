#!/usr/bin/env bash
# run.sh STRATA_BINARY: the client compatibility suite.
#
# Starts STRATA_BINARY as a one-node cluster on free 127.0.0.1 ports and checks
# it with unmodified Debian clients: kcat (librdkafka), python3-confluent-kafka
# and python3-kafka (kafka-python), every codec each supports, then consumer
# groups with each Python client (python_groups.py: confluent-kafka with the
# range and cooperative-sticky assignors, kafka-python with range). A test
# script prints one PASS or FAIL line per check; each line counts. A missing client
# or codec module is skipped with a hint on how to install it, except with
# CI=true, where it fails (a kafka-python codec only if Debian packages its
# module). Ends with the line "compat: N passed, M failed, K skipped" and
# exits non-zero if anything failed.
#
# Environment: CI=true makes missing clients failures;
# COMPAT_CONFLUENT_RECORDS (default 100000), COMPAT_KAFKA_PYTHON_RECORDS
# (default 100000) and KCAT_RECORDS (default 10000) set the records per codec;
# COMPAT_GROUP_RECORDS (default 30000) the records of each group test.
set -euo pipefail

if [[ $# -ne 1 || ! -x $1 ]]; then
	echo "usage: $0 STRATA_BINARY (an executable strata binary)" >&2
	exit 2
fi
strata=$(realpath "$1")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=/usr/bin/python3 # Debian's interpreter: the one the python3-* packages install into
ci=${CI:-false}
confluent_records=${COMPAT_CONFLUENT_RECORDS:-100000}
kafka_python_records=${COMPAT_KAFKA_PYTHON_RECORDS:-100000}
partitions=4
group_records=${COMPAT_GROUP_RECORDS:-30000}
test_timeout=180 # seconds one client test may take: 60 s to produce, 60 s to consume, setup
group_timeout=100 # seconds one group test may take (about 20 s when it passes)

passed=0 failed=0 skipped=0
tmp=$(mktemp -d)
broker_pid=""

# stop_broker: SIGTERM, then SIGKILL if the broker is still up 10 s later.
stop_broker() {
	local deadline=$((SECONDS + 10))
	[[ -n $broker_pid ]] || return 0
	kill "$broker_pid" 2>/dev/null || true
	while kill -0 "$broker_pid" 2>/dev/null && ((SECONDS < deadline)); do
		sleep 0.05
	done
	if kill -0 "$broker_pid" 2>/dev/null; then
		echo "note: strata did not exit within 10s of SIGTERM; killing it"
		kill -KILL "$broker_pid" 2>/dev/null || true
	fi
	wait "$broker_pid" 2>/dev/null || true
	broker_pid=""
}

cleanup() {
	stop_broker
	rm -rf "$tmp"
}
trap cleanup EXIT

broker_log_tail() {
	echo "--- last 60 lines of the broker log ($strata) ---"
	tail -n 60 "$tmp/strata.log" 2>/dev/null || true
	echo "--- end of broker log ---"
}

# missing CLIENT PACKAGE: a client that is not installed is a skip, or a
# failure under CI=true.
missing() {
	if [[ $ci == true ]]; then
		echo "FAIL $1: not installed (CI=true); install with: apt-get install -y $2"
		failed=$((failed + 1))
	else
		echo "SKIP $1: not installed; install with: apt-get install -y $2"
		skipped=$((skipped + 1))
	fi
}

# run_test [-t SECONDS] NAME CMD...: runs one client test with a time limit
# (default test_timeout). Every line it prints that starts with PASS or FAIL
# counts as one check; a test that exits non-zero without a FAIL line, or
# prints no result line at all, counts as one failure or pass by its exit
# status. Its stderr is printed only when it fails, client log lines last.
run_test() {
	local limit=$test_timeout
	if [[ $1 == -t ]]; then
		limit=$2
		shift 2
	fi
	local name=$1 out rc=0 t0=$EPOCHREALTIME took npass nfail
	shift
	out=$(timeout "$limit" "$@" 2>"$tmp/test.err") || rc=$?
	took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	npass=$(grep -c '^PASS ' <<<"$out" || true)
	nfail=$(grep -c '^FAIL ' <<<"$out" || true)
	if ((rc == 124)); then
		out="${out:+$out$'\n'}FAIL $name: timed out after ${limit}s"
		nfail=$((nfail + 1))
	elif ((rc != 0 && nfail == 0)); then
		out="${out:+$out$'\n'}FAIL $name: exit status $rc"
		nfail=1
	elif ((npass + nfail == 0)); then
		out="${out:-PASS $name}"
		npass=1
	fi
	echo "$out [${took}s]"
	passed=$((passed + npass))
	failed=$((failed + nfail))
	((rc != 0 || nfail > 0)) || return 0
	{
		grep -v ': client log: ' "$tmp/test.err" | head -n 40 || true
		grep ': client log: ' "$tmp/test.err" | head -n 10 || true
	} | sed 's/^/    /'
	if ! kill -0 "$broker_pid" 2>/dev/null; then
		echo "FAIL broker: the strata process exited during $name"
		broker_log_tail
		echo "compat: $passed passed, $failed failed, $skipped skipped"
		exit 1
	fi
}

# free_ports N: prints N distinct free TCP ports on 127.0.0.1, one a line. The
# kernel picks them; they stay free until the broker binds them unless another
# process races for them, which on loopback is rare enough.
free_ports() {
	"$py" -c '
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
' "$1"
}

# ready URL: true when URL answers 200.
ready() {
	if command -v curl >/dev/null; then
		curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null
	else
		"$py" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" 2>/dev/null
	fi
}

start_broker() {
	local ports port admin deadline
	if [[ ! -x $py ]]; then
		echo "FAIL setup: $py not found; install with: apt-get install -y python3"
		echo "compat: 0 passed, 1 failed, 0 skipped"
		exit 1
	fi
	mapfile -t ports < <(free_ports 2)
	port=${ports[0]} admin=${ports[1]}
	bootstrap="127.0.0.1:$port"
	# Group settings for python_groups.py: no delay before a new group's first
	# rebalance, short session timeouts allowed; the other tests use no groups.
	"$strata" serve --data-dir "$tmp/data" --listen "$bootstrap" --admin "127.0.0.1:$admin" \
		--set group.initial.rebalance.delay.ms=0 --set group.min.session.timeout.ms=500 \
		>"$tmp/strata.log" 2>&1 &
	broker_pid=$!
	deadline=$((SECONDS + 20))
	local t0=$EPOCHREALTIME
	until ready "http://127.0.0.1:$admin/readyz"; do
		if ! kill -0 "$broker_pid" 2>/dev/null; then
			echo "FAIL broker: strata serve exited before it was ready"
			broker_log_tail
			echo "compat: 0 passed, 1 failed, 0 skipped"
			exit 1
		fi
		if ((SECONDS >= deadline)); then
			echo "FAIL broker: /readyz on 127.0.0.1:$admin not ready within 20s"
			broker_log_tail
			echo "compat: 0 passed, 1 failed, 0 skipped"
			exit 1
		fi
		sleep 0.05
	done
	echo "broker: $strata ready on $bootstrap (admin 127.0.0.1:$admin) in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')s"
}

# have_module MODULE: the Python module imports under $py.
have_module() {
	"$py" -c "import $1" 2>/dev/null
}

# kafka-python's codec modules and the Debian packages that provide them.
declare -A codec_module=([snappy]=snappy [lz4]=lz4.frame [zstd]=zstandard)
declare -A codec_package=([snappy]=python3-snappy [lz4]=python3-lz4 [zstd]=python3-zstandard)

start_broker
suite_start=$SECONDS

if command -v kcat >/dev/null; then
	run_test kcat "$here/kcat.sh" "$bootstrap"
else
	missing kcat kcat
fi

if [[ -x $py ]] && have_module confluent_kafka; then
	for codec in none gzip snappy lz4 zstd; do
		run_test "confluent $codec" "$py" "$here/python_clients.py" --bootstrap "$bootstrap" \
			--client confluent --codec "$codec" --records "$confluent_records" --partitions "$partitions"
	done
	for assignor in range cooperative-sticky; do
		run_test -t "$group_timeout" "confluent groups $assignor" "$py" "$here/python_groups.py" \
			--bootstrap "$bootstrap" --client confluent --assignor "$assignor" --records "$group_records"
	done
else
	missing confluent-kafka python3-confluent-kafka
fi

if [[ -x $py ]] && have_module kafka; then
	have_module crc32c || echo "note: kafka-python is using its slow pure-Python CRC32C; apt-get install -y python3-crc32c"
	for codec in none gzip snappy lz4 zstd; do
		mod=${codec_module[$codec]:-}
		if [[ -n $mod ]] && ! have_module "$mod"; then
			pkg=${codec_package[$codec]}
			if [[ $ci == true ]] && apt-cache show "$pkg" >/dev/null 2>&1; then
				echo "FAIL kafka-python $codec: module $mod missing (CI=true); install with: apt-get install -y $pkg"
				failed=$((failed + 1))
			else
				echo "SKIP kafka-python $codec: module $mod missing; install with: apt-get install -y $pkg"
				skipped=$((skipped + 1))
			fi
			continue
		fi
		run_test "kafka-python $codec" "$py" "$here/python_clients.py" --bootstrap "$bootstrap" \
			--client kafka-python --codec "$codec" --records "$kafka_python_records" --partitions "$partitions"
	done
	run_test -t "$group_timeout" "kafka-python groups range" "$py" "$here/python_groups.py" \
		--bootstrap "$bootstrap" --client kafka-python --assignor range --records "$group_records"
else
	missing kafka-python python3-kafka
fi

if ! kill -0 "$broker_pid" 2>/dev/null; then
	echo "FAIL broker: the strata process exited during the suite"
	failed=$((failed + 1))
fi
echo "suite: $((SECONDS - suite_start))s"
if ((failed > 0)); then
	broker_log_tail
fi
echo "compat: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
