#!/usr/bin/env bash
# kcat.sh BOOTSTRAP [REPLICATION_FACTOR]: client compatibility check of a
# running Strata broker, or cluster, with kcat (librdkafka). BOOTSTRAP is
# host:port, or a comma-separated list of a cluster's brokers.
#
# For each codec of KCAT_CODECS (default "none gzip snappy lz4 zstd") it
# produces KCAT_RECORDS (default 10000) keyed lines with two headers to a new topic that the broker
# auto-creates on first use, then checks that:
#   - kcat -C reads every record back exactly once, with key, value and headers
#     intact, offsets 0, 1, 2, ... per partition and records in produce order
#     per partition;
#   - kcat -L -J lists the topic with its partitions, each with a leader and,
#     given REPLICATION_FACTOR (the broker's default.replication.factor, which
#     auto-created topics get), that many replicas, all in sync, and at least
#     that many brokers;
#   - the batches served (read with wire_batches.py) carry the codec;
#   - kcat -Q answers offsets for times: earliest (-2) is 0, latest (-1) is the
#     partition's record count, a record's timestamp gives the first offset
#     with that timestamp or later, a future timestamp gives -1.
# KCAT_CONFIG=FILE gives every kcat call librdkafka's properties in FILE (-F):
# security.protocol, sasl.*, ssl.* for a TLS or SASL listener. wire_batches.py
# speaks plain TCP, so the codec check then reads through KCAT_WIRE_BOOTSTRAP,
# a PLAINTEXT listener of the same broker (without it, the check is left out).
# Prints one line "PASS kcat: ..." or "FAIL kcat: ..." (details on stderr);
# exits 0 on pass, 1 on failure.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
	echo "usage: $0 BOOTSTRAP (host:port[,host:port...]) [REPLICATION_FACTOR]" >&2
	exit 2
fi
bootstrap=$1
replication_factor=${2:-}
records=${KCAT_RECORDS:-10000}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
read -ra codecs <<<"${KCAT_CODECS:-none gzip snappy lz4 zstd}"
config=${KCAT_CONFIG:-}
wire_bootstrap=${KCAT_WIRE_BOOTSTRAP:-}
[[ -n $config ]] || wire_bootstrap=$bootstrap
kcat=(kcat)
[[ -z $config ]] || kcat+=(-F "$config")
kcat_timeout=20 # seconds any one kcat invocation may take

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failures=0
first_failure=""
fail() {
	failures=$((failures + 1))
	[[ -n $first_failure ]] || first_failure=$1
	echo "kcat: $1" >&2
}

# kcat_said FILE: kcat's distinct log messages in FILE without their
# timestamps, at most three, on one line.
kcat_said() {
	grep -v "Reached end" "$1" | sed 's/^%[0-9]|[0-9.]*|//' | sort -u | head -3 | paste -sd '|' -
}

# The awk function giving record i's value: "v-<i>-" padded to 100 bytes with
# hex digits that depend on i, so a misplaced or corrupted value shows.
value_fn='function value(i,   v) {
	v = sprintf("v-%d-", i)
	while (length(v) < 100) v = v sprintf("%x", i * 7 + length(v))
	return substr(v, 1, 100)
}'

# check_consumed OUT: verifies the "%p %o %T %k %s %h" lines in OUT and writes
# "partition count" lines to OUT.counts and "partition offset timestamp" lines
# (every record) to OUT.ts. Prints problems, one a line, on stdout.
check_consumed() {
	awk -v n="$records" -v counts="$1.counts" -v tsfile="$1.ts" "$value_fn"'
	NF != 6 { printf "line %d: %d fields, want 6: %s\n", NR, NF, $0; bad++; next }
	{
		p = $1; o = $2; ts = $3; k = $4; v = $5; h = $6
		if (k !~ /^k-[0-9]+$/) { printf "partition %s offset %s: bad key %s\n", p, o, k; bad++; next }
		i = substr(k, 3) + 0
		if (i >= n) { printf "partition %s offset %s: key %s out of range\n", p, o, k; bad++; next }
		if (i in seen) { printf "partition %s offset %s: record %d read again\n", p, o, i; bad++; next }
		seen[i] = 1; got++
		want = (p in next_off) ? next_off[p] : 0
		if (o != want) { printf "partition %s: offset %s, want %d\n", p, o, want; bad++ }
		next_off[p] = o + 1
		if ((p in last) && i <= last[p]) { printf "partition %s offset %s: record %d after record %d\n", p, o, i, last[p]; bad++ }
		last[p] = i
		if (v != value(i)) { printf "partition %s offset %s: record %d value %s, want %s\n", p, o, i, v, value(i); bad++ }
		if (h != "a=b,src=kcat") { printf "partition %s offset %s: record %d headers %s, want a=b,src=kcat\n", p, o, i, h; bad++ }
		print p, o, ts > tsfile
	}
	END {
		if (got != n) printf "read %d distinct records, want %d\n", got, n
		for (p in next_off) print p, next_off[p] > counts
	}' "$1"
}

# want_offset_for_time TSFILE P TS: the first offset in partition P whose
# timestamp is at or after TS, or -1.
want_offset_for_time() {
	awk -v p="$2" -v t="$3" '$1 == p && $3 >= t { print $2; found = 1; exit } END { if (!found) print -1 }' "$1"
}

# check_query TOPIC OUT: checks kcat -Q on every partition listed in OUT.counts.
check_query() {
	local topic=$1 out=$2 p count mid ts want got line
	while read -r p count; do
		mid=$((count / 2))
		ts=$(awk -v p="$p" -v o="$mid" '$1 == p && $2 == o { print $3; exit }' "$out.ts")
		local -a queries=("-2 0" "-1 $count" "$ts $(want_offset_for_time "$out.ts" "$p" "$ts")"
			"$((ts + 86400000)) -1")
		for line in "${queries[@]}"; do
			read -r ts want <<<"$line"
			if ! got=$(timeout "$kcat_timeout" "${kcat[@]}" -Q -b "$bootstrap" -t "$topic:$p:$ts" 2>"$work/q.err"); then
				fail "$topic: kcat -Q partition $p timestamp $ts failed: $(tr '\n' ' ' <"$work/q.err")"
				continue
			fi
			got=$(awk -v t="$topic" -v p="$p" '$1 == t && $2 == "[" p "]" && $3 == "offset" { print $4 }' <<<"$got")
			if [[ $got != "$want" ]]; then
				fail "$topic: kcat -Q partition $p timestamp $ts gave offset '${got}', want $want"
			fi
		done
	done <"$out.counts"
}

# check_metadata TOPIC MIN: kcat -L -J lists TOPIC with partitions 0..n-1,
# n >= MIN, each with a leader; with a replication factor R, each with R
# replicas all in sync, the leader one of them, and at least R brokers.
check_metadata() {
	local topic=$1 want=$2 json problem
	if ! json=$(timeout "$kcat_timeout" "${kcat[@]}" -L -b "$bootstrap" -J 2>"$work/l.err"); then
		fail "$topic: kcat -L -J failed: $(tr '\n' ' ' <"$work/l.err")"
		return
	fi
	problem=$(/usr/bin/python3 -c '
import json, sys
md = json.loads(sys.argv[1])
topic, want = sys.argv[2], int(sys.argv[3])
rf = int(sys.argv[4]) if sys.argv[4] else None
if rf is not None and len(md.get("brokers", [])) < rf:
    print("metadata lists %d brokers, want at least %d" % (len(md.get("brokers", [])), rf))
ts = [t for t in md.get("topics", []) if t.get("topic") == topic]
if not ts:
    print("topic missing from kcat -L -J metadata")
elif ts[0].get("error"):
    print("topic error in metadata: %s" % ts[0]["error"])
else:
    parts = ts[0].get("partitions", [])
    ids = sorted(p["partition"] for p in parts)
    if ids != list(range(len(ids))) or len(ids) < want:
        print("metadata partitions %s, want 0..n-1 with n >= %d" % (ids, want))
    for p in parts:
        if p.get("leader", -1) < 0:
            print("partition %d has no leader" % p["partition"])
        if rf is None:
            continue
        replicas = sorted(r["id"] for r in p.get("replicas", []))
        isr = sorted(r["id"] for r in p.get("isrs", []))
        if len(set(replicas)) != rf:
            print("partition %d has replicas %s, want %d distinct" % (p["partition"], replicas, rf))
        elif isr != replicas:
            print("partition %d has in-sync replicas %s, want all of %s" % (p["partition"], isr, replicas))
        elif p.get("leader") not in replicas:
            print("partition %d: leader %s is not a replica" % (p["partition"], p.get("leader")))
' "$json" "$topic" "$want" "$replication_factor")
	[[ -z $problem ]] || fail "$topic: ${problem//$'\n'/; }"
}

start=$(date +%s.%N)
for codec in "${codecs[@]}"; do
	topic="compat-kcat-$codec-$$-$RANDOM"
	in="$work/$codec.in" out="$work/$codec.out"
	awk -v n="$records" "$value_fn"'BEGIN { for (i = 0; i < n; i++) printf "k-%d:%s\n", i, value(i) }' >"$in"

	rc=0
	timeout "$kcat_timeout" "${kcat[@]}" -P -b "$bootstrap" -t "$topic" -K: -H a=b -H src=kcat \
		-z "$codec" -X acks=all <"$in" 2>"$work/p.err" || rc=$?
	if ((rc != 0)); then
		fail "$topic: kcat -P -z $codec exit status $rc$( ((rc != 124)) || echo " (timed out after ${kcat_timeout}s)"): $(tail -5 "$work/p.err" | tr '\n' ' ')"
		continue
	fi
	if grep -qi "fail\|error" "$work/p.err"; then
		fail "$topic: kcat -P -z $codec reported: $(grep -i "fail\|error" "$work/p.err" | head -3 | tr '\n' ' ')"
	fi

	# -e: exit at the end of every partition, which librdkafka learns from an
	# empty fetch response at the high watermark.
	rc=0
	timeout "$kcat_timeout" "${kcat[@]}" -C -b "$bootstrap" -t "$topic" -o beginning -e \
		-f '%p %o %T %k %s %h\n' >"$out" 2>"$work/c.err" || rc=$?
	if ((rc == 124)); then
		fail "$topic: kcat -C -e did not exit within ${kcat_timeout}s (end of partition never seen) after reading $(wc -l <"$out") of $records records; kcat said: $(kcat_said "$work/c.err")"
	elif ((rc != 0)); then
		fail "$topic: kcat -C exit status $rc: $(tail -5 "$work/c.err" | tr '\n' ' ')"
		continue
	fi
	problems=$(check_consumed "$out")
	if [[ -n $problems ]]; then
		fail "$topic (-z $codec): $(head -1 <<<"$problems") ($(wc -l <<<"$problems") problems)"
		head -20 <<<"$problems" >&2
		continue
	fi
	check_metadata "$topic" "$(awk '$1 >= n { n = $1 + 1 } END { print n + 0 }' "$out.counts")"
	# kcat reads compressed and uncompressed batches alike: check the codec on the wire.
	if [[ -n $wire_bootstrap ]] && ! wire=$(/usr/bin/python3 "$here/wire_batches.py" \
		--bootstrap "$wire_bootstrap" --topic "$topic" \
		--partitions "$(wc -l <"$out.counts")" --codec "$codec" --librdkafka); then
		fail "$topic (-z $codec): $wire"
	fi
	check_query "$topic" "$out"
done
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')

summary="${#codecs[@]} codecs (${codecs[*]}) x $records records${replication_factor:+, replication factor $replication_factor} in ${elapsed}s"
if ((failures > 0)); then
	echo "FAIL kcat: $summary; $failures problems, first: ${first_failure:0:400}"
	exit 1
fi
echo "PASS kcat: $(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\).*librdkafka \([^ ]*\).*/kcat \1 librdkafka \2/p'); $summary"
