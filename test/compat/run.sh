#!/usr/bin/env bash
# run.sh STRATA_BINARY: the client compatibility suite.
#
# Starts STRATA_BINARY as a one-node cluster on free 127.0.0.1 ports and checks
# it with unmodified Debian clients: kcat (librdkafka), python3-confluent-kafka
# and python3-kafka (kafka-python), every codec each supports, then consumer
# groups with each Python client (python_groups.py: confluent-kafka with the
# range and cooperative-sticky assignors, kafka-python with range) and
# exactly-once processing with confluent-kafka's transactions
# (python_txn.py). Then it
# stops that broker, starts a three-node cluster (three `strata serve`
# processes, all controller voters, with default.replication.factor=3,
# min.insync.replicas=2 and offsets.topic.replication.factor=3) and runs the
# same scripts against its bootstrap list of all three addresses, with topics
# of replication factor 3, fewer records and fewer codecs; their result lines
# read "PASS [3 nodes] ..." or "FAIL [3 nodes] ...". Last, python_rolling.py
# restarts every node in turn (restart_node.sh: SIGTERM, then the same
# command) while confluent-kafka produces with acks=all and consumes in a
# group.
# A test script prints one PASS or FAIL line per check; each line counts. A
# missing client or codec module is skipped with a hint on how to install it,
# except with CI=true, where it fails (a kafka-python codec only if Debian
# packages its module). Ends with the line "compat: N passed, M failed, K
# skipped" and exits non-zero if anything failed. Every strata process is
# stopped on exit, whatever the outcome.
#
# Environment: CI=true makes missing clients failures;
# COMPAT_CONFLUENT_RECORDS (default 100000), COMPAT_KAFKA_PYTHON_RECORDS
# (default 100000) and KCAT_RECORDS (default 10000) set the records per codec;
# COMPAT_GROUP_RECORDS (default 30000) the records of each group test,
# COMPAT_TXN_RECORDS (default 2000) those of the transactions test. The
# cluster run has its own, smaller counts: COMPAT_CLUSTER_CONFLUENT_RECORDS
# (default 20000), COMPAT_CLUSTER_KAFKA_PYTHON_RECORDS (10000),
# COMPAT_CLUSTER_KCAT_RECORDS (2000) and COMPAT_CLUSTER_GROUP_RECORDS (10000);
# COMPAT_CLUSTER_CODECS (default "none zstd") the Python clients' codecs there.
# COMPAT_CLUSTER=false skips the cluster run. COMPAT_LOG_DIR=DIR keeps the
# strata logs there (strata.log of the broker, node1.log... of the cluster).
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
kcat_records=${KCAT_RECORDS:-10000}
partitions=4
group_records=${COMPAT_GROUP_RECORDS:-30000}
test_timeout=180 # seconds one client test may take: 60 s to produce, 60 s to consume, setup
group_timeout=100 # seconds one group test may take (about 20 s when it passes)
txn_timeout=150   # seconds the transactions test may take
txn_records=${COMPAT_TXN_RECORDS:-2000}
cluster=${COMPAT_CLUSTER:-true}
cluster_nodes=3

passed=0 failed=0 skipped=0
tmp=$(mktemp -d)
# The strata processes of the current run (one broker, or the cluster's
# nodes), their logs and node names, index by index.
pids=() logs=() names=()
# Put before every PASS and FAIL line of the current run.
label=""

# current_pids: the strata processes of the run; a cluster node restarted by
# restart_node.sh has a new one in its pid file.
current_pids() {
	local i
	for i in "${!pids[@]}"; do
		if [[ -f $tmp/cluster/node$((i + 1)).pid && ${names[$i]} == "node $((i + 1))" ]]; then
			pids[i]=$(cat "$tmp/cluster/node$((i + 1)).pid")
		fi
	done
}

# stop_brokers: SIGTERM to every strata process of the run, then SIGKILL to
# those still up 10 s later.
stop_brokers() {
	local deadline=$((SECONDS + 10)) pid i
	current_pids
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for i in "${!pids[@]}"; do
		pid=${pids[$i]}
		while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
			sleep 0.05
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "note: ${names[$i]} did not exit within 10s of SIGTERM; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	pids=() logs=() names=()
}

cleanup() {
	stop_brokers
	if [[ -n ${COMPAT_LOG_DIR:-} ]]; then
		mkdir -p "$COMPAT_LOG_DIR"
		cp "$tmp"/*.log "$COMPAT_LOG_DIR"/ 2>/dev/null || true
		cp "$tmp"/cluster/*.log "$COMPAT_LOG_DIR"/ 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
# A signal ends the script through the EXIT trap, which stops the brokers.
trap 'exit 130' INT
trap 'exit 143' TERM

broker_log_tail() {
	local i
	for i in "${!pids[@]}"; do
		echo "--- last 60 lines of the log of ${names[$i]} ($strata) ---"
		tail -n 60 "${logs[$i]}" 2>/dev/null || true
		echo "--- end of the log of ${names[$i]} ---"
	done
}

# exited_broker: prints the name of a strata process of the run that has
# exited, and succeeds, if there is one.
exited_broker() {
	local i
	current_pids
	for i in "${!pids[@]}"; do
		if ! kill -0 "${pids[$i]}" 2>/dev/null; then
			echo "${names[$i]}"
			return 0
		fi
	done
	return 1
}

# missing CLIENT PACKAGE: a client that is not installed is a skip, or a
# failure under CI=true.
missing() {
	if [[ $ci == true ]]; then
		echo "FAIL $label$1: not installed (CI=true); install with: apt-get install -y $2"
		failed=$((failed + 1))
	else
		echo "SKIP $label$1: not installed; install with: apt-get install -y $2"
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
	local name=$1 out rc=0 t0=$EPOCHREALTIME took npass nfail gone
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
	echo "$out [${took}s]" | sed -E "s/^(PASS|FAIL) /\1 $label/"
	passed=$((passed + npass))
	failed=$((failed + nfail))
	((rc != 0 || nfail > 0)) || return 0
	{
		grep -v ': client log: ' "$tmp/test.err" | head -n 40 || true
		grep ': client log: ' "$tmp/test.err" | head -n 10 || true
	} | sed 's/^/    /'
	if gone=$(exited_broker); then
		echo "FAIL ${label}broker: $gone exited during $name"
		failed=$((failed + 1))
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

# setup_failure MESSAGE: a broker that did not start ends the suite.
setup_failure() {
	echo "FAIL $label$1"
	broker_log_tail
	failed=$((failed + 1))
	echo "compat: $passed passed, $failed failed, $skipped skipped"
	exit 1
}

# wait_ready ADMIN...: waits until /readyz answers 200 on every admin address
# (host:port), for at most 30 s in all; the suite fails if a strata process
# exits or the time runs out.
wait_ready() {
	local deadline=$((SECONDS + 30)) admin gone
	for admin in "$@"; do
		until ready "http://$admin/readyz"; do
			if gone=$(exited_broker); then
				setup_failure "broker: $gone exited before it was ready"
			fi
			if ((SECONDS >= deadline)); then
				setup_failure "broker: /readyz on $admin not ready within 30s"
			fi
			sleep 0.05
		done
	done
}

# elapsed T0: seconds since $EPOCHREALTIME was T0.
elapsed() {
	awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'
}

check_python() {
	if [[ ! -x $py ]]; then
		echo "FAIL setup: $py not found; install with: apt-get install -y python3"
		echo "compat: 0 passed, 1 failed, 0 skipped"
		exit 1
	fi
}

# start_broker: a one-node cluster; sets bootstrap.
start_broker() {
	local ports admin t0=$EPOCHREALTIME
	mapfile -t ports < <(free_ports 3)
	admin="127.0.0.1:${ports[1]}"
	bootstrap="127.0.0.1:${ports[0]}"
	sasl_bootstrap="127.0.0.1:${ports[2]}"
	# Group settings for python_groups.py: no delay before a new group's first
	# rebalance, short session timeouts allowed; the other tests use no groups.
	# A second listener, SASL_PLAINTEXT, for sasl.sh.
	"$strata" serve --data-dir "$tmp/data" --admin "$admin" \
		--set "listeners=PLAINTEXT://$bootstrap,SASL_PLAINTEXT://$sasl_bootstrap" \
		--set sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN \
		--set group.initial.rebalance.delay.ms=0 --set group.min.session.timeout.ms=500 \
		>"$tmp/strata.log" 2>&1 &
	pids=($!) logs=("$tmp/strata.log") names=("the broker")
	wait_ready "$admin"
	echo "broker: $strata ready on $bootstrap (admin $admin) in $(elapsed "$t0")s"
}

# start_cluster: a cluster of cluster_nodes nodes, every one a controller
# voter, each with its own data directory and log under $tmp/cluster; sets
# bootstrap to the comma-separated Kafka addresses of all of them.
start_cluster() {
	local ports i kafka admins=() addrs=() voters=() t0=$EPOCHREALTIME
	local n=$cluster_nodes
	mapfile -t ports < <(free_ports $((3 * n)))
	# Node i (1-based) has Kafka port ports[i-1], admin ports[n+i-1] and
	# controller (Raft) port ports[2n+i-1].
	for ((i = 1; i <= n; i++)); do
		voters+=("$i@127.0.0.1:${ports[2 * n + i - 1]}")
	done
	voters=$(IFS=,; echo "${voters[*]}")
	for ((i = 1; i <= n; i++)); do
		kafka="127.0.0.1:${ports[i - 1]}"
		admins+=("127.0.0.1:${ports[n + i - 1]}")
		addrs+=("$kafka")
		mkdir -p "$tmp/cluster/node$i"
		local args=(serve --node-id "$i" --data-dir "$tmp/cluster/node$i"
			--listen "$kafka" --admin "${admins[i - 1]}"
			--controller-listen "127.0.0.1:${ports[2 * n + i - 1]}" --controller-voters "$voters"
			--set default.replication.factor=3 --set min.insync.replicas=2
			--set offsets.topic.replication.factor=3
			--set group.initial.rebalance.delay.ms=0 --set group.min.session.timeout.ms=500)
		# restart_node.sh restarts a node from these files.
		printf '%s\n' "${args[@]}" >"$tmp/cluster/node$i.args"
		"$strata" "${args[@]}" >"$tmp/cluster/node$i.log" 2>&1 &
		echo $! >"$tmp/cluster/node$i.pid"
		pids+=($!) logs+=("$tmp/cluster/node$i.log") names+=("node $i")
	done
	bootstrap=$(IFS=,; echo "${addrs[*]}")
	wait_ready "${admins[@]}"
	echo "cluster: $n nodes of $strata ready on $bootstrap in $(elapsed "$t0")s"
}

# have_module MODULE: the Python module imports under $py.
have_module() {
	"$py" -c "import $1" 2>/dev/null
}

# kafka-python's codec modules and the Debian packages that provide them.
declare -A codec_module=([snappy]=snappy [lz4]=lz4.frame [zstd]=zstandard)
declare -A codec_package=([snappy]=python3-snappy [lz4]=python3-lz4 [zstd]=python3-zstandard)

# run_clients RF CODECS KCAT_RECORDS CONFLUENT_RECORDS KAFKA_PYTHON_RECORDS
# GROUP_RECORDS: every client test against $bootstrap, topics created with
# replication factor RF; the Python clients produce with each of CODECS
# (space-separated), kcat with every codec.
run_clients() {
	local rf=$1 codecs=$2 kcat_records=$3 confluent_records=$4 kafka_python_records=$5 group_records=$6
	local codec assignor mod pkg gone start=$SECONDS
	if command -v kcat >/dev/null; then
		# Auto-created topics: the broker's default replication factor, which
		# kcat.sh checks only when it is not 1.
		run_test kcat env KCAT_RECORDS="$kcat_records" "$here/kcat.sh" "$bootstrap" \
			"$( ((rf == 1)) || echo "$rf")"
	else
		missing kcat kcat
	fi

	if [[ -x $py ]] && have_module confluent_kafka; then
		for codec in $codecs; do
			run_test "confluent $codec" "$py" "$here/python_clients.py" --bootstrap "$bootstrap" \
				--client confluent --codec "$codec" --records "$confluent_records" \
				--partitions "$partitions" --replication-factor "$rf"
		done
		for assignor in range cooperative-sticky; do
			run_test -t "$group_timeout" "confluent groups $assignor" "$py" "$here/python_groups.py" \
				--bootstrap "$bootstrap" --client confluent --assignor "$assignor" \
				--records "$group_records" --replication-factor "$rf"
		done
		run_test -t "$txn_timeout" "confluent transactions" "$py" "$here/python_txn.py" \
			--bootstrap "$bootstrap" --records "$txn_records" --replication-factor "$rf"
	else
		missing confluent-kafka python3-confluent-kafka
	fi

	if [[ -x $py ]] && have_module kafka; then
		have_module crc32c || echo "note: kafka-python is using its slow pure-Python CRC32C; apt-get install -y python3-crc32c"
		for codec in $codecs; do
			mod=${codec_module[$codec]:-}
			if [[ -n $mod ]] && ! have_module "$mod"; then
				pkg=${codec_package[$codec]}
				if [[ $ci == true ]] && apt-cache show "$pkg" >/dev/null 2>&1; then
					echo "FAIL ${label}kafka-python $codec: module $mod missing (CI=true); install with: apt-get install -y $pkg"
					failed=$((failed + 1))
				else
					echo "SKIP ${label}kafka-python $codec: module $mod missing; install with: apt-get install -y $pkg"
					skipped=$((skipped + 1))
				fi
				continue
			fi
			run_test "kafka-python $codec" "$py" "$here/python_clients.py" --bootstrap "$bootstrap" \
				--client kafka-python --codec "$codec" --records "$kafka_python_records" \
				--partitions "$partitions" --replication-factor "$rf"
		done
		run_test -t "$group_timeout" "kafka-python groups range" "$py" "$here/python_groups.py" \
			--bootstrap "$bootstrap" --client kafka-python --assignor range \
			--records "$group_records" --replication-factor "$rf"
	else
		missing kafka-python python3-kafka
	fi

	if gone=$(exited_broker); then
		echo "FAIL ${label}broker: $gone exited during the suite"
		failed=$((failed + 1))
	fi
	echo "suite${label:+ ${label% }}: $((SECONDS - start))s"
}

check_python
start_broker
run_clients 1 "none gzip snappy lz4 zstd" "$kcat_records" "$confluent_records" \
	"$kafka_python_records" "$group_records"
run_test sasl "$here/sasl.sh" "$strata" "$bootstrap" "$sasl_bootstrap" "$py"
single_failed=$failed
if ((failed > 0)); then
	broker_log_tail
fi
stop_brokers

if [[ $cluster != false ]]; then
	label="[$cluster_nodes nodes] "
	start_cluster
	# Two codecs per Python client (kcat.sh still produces with all five): a
	# follower copies the leader's batches as they are, whatever their codec,
	# and the group tests' fixed waits (session timeouts) take most of the
	# time this run is allowed.
	run_clients 3 "${COMPAT_CLUSTER_CODECS:-none zstd}" "${COMPAT_CLUSTER_KCAT_RECORDS:-2000}" \
		"${COMPAT_CLUSTER_CONFLUENT_RECORDS:-20000}" "${COMPAT_CLUSTER_KAFKA_PYTHON_RECORDS:-10000}" \
		"${COMPAT_CLUSTER_GROUP_RECORDS:-10000}"
	if [[ -x $py ]] && have_module confluent_kafka; then
		run_test -t 240 "confluent rolling restart" "$py" "$here/python_rolling.py" --bootstrap "$bootstrap" \
			--nodes "$cluster_nodes" --restart "$here/restart_node.sh $strata $tmp/cluster"
	else
		missing "confluent rolling restart" python3-confluent-kafka
	fi
	if ((failed > single_failed)); then
		broker_log_tail
	fi
	stop_brokers
fi
echo "compat: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
