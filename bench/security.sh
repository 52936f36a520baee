#!/usr/bin/env bash
# bench/security.sh: TLS against plaintext on one node, in one run (issue
# 14's benchmarks): workload 1 (produce 1 KiB records, 6 partitions,
# acks=all, no compression) through a PLAINTEXT and an SSL listener of the
# same node, then workload 4 (catch-up read of one of those topics, 3
# consumers, 4 MiB fetches) through each; cells alternate plaintext and TLS,
# REPEAT times. Then connection setup (strata bench connect) over
# PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL with SCRAM-SHA-512. Prints one
# JSON line per measurement, the medians' ratios and the setup percentiles.
#
#   RECORDS [1000000]  records per produce run
#   REPEAT [3]         runs of each cell
#   CONNECTS [500]     connections per setup cell
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GO=${GO:-go}
RECORDS=${RECORDS:-1000000}
REPEAT=${REPEAT:-3}
CONNECTS=${CONNECTS:-500}
WORK=$(mktemp -d /tmp/strata-tlsbench.XXXXXX)
PID=
cleanup() {
	if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
(cd "$ROOT" && "$GO" build -o "$WORK/strata" ./cmd/strata)
S=$WORK/strata
"$S" dev certs "$WORK/certs" >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PT=$(free_port); SSL=$(free_port); SASLPT=$(free_port); SASLSSL=$(free_port); ADMIN=$(free_port)
"$S" serve --data-dir "$WORK/data" --admin "127.0.0.1:$ADMIN" --log-level warn \
	--set "listeners=PLAINTEXT://127.0.0.1:$PT,SSL://127.0.0.1:$SSL,SASL_PLAINTEXT://127.0.0.1:$SASLPT,SASL_SSL://127.0.0.1:$SASLSSL" \
	--set sasl.enabled.mechanisms=SCRAM-SHA-512 \
	--set "ssl.keystore.location=$WORK/certs/server.keystore.pem" \
	--set "ssl.truststore.location=$WORK/certs/ca.pem" >"$WORK/strata.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ADMIN/readyz" >/dev/null && break; sleep 0.1; done
TLSFLAGS=(--brokers "127.0.0.1:$SSL" -X security.protocol=SSL -X "ssl.ca.location=$WORK/certs/ca.pem")
PTFLAGS=(--brokers "127.0.0.1:$PT")
PRODUCE=(--records "$RECORDS" --acks all --compression none --record-size 1024 --partitions 6 --json)
CONSUME=(--topic pt-1 --consumers 3 --fetch-size 4194304 --json)
RES=$WORK/results.jsonl
run() { # name args...
	local name=$1; shift
	echo "+ strata $*" >&2
	printf '{"cell":"%s","result":%s}\n' "$name" "$("$S" "$@")" | tee -a "$RES"
}
for r in $(seq "$REPEAT"); do
	run produce-plaintext bench produce --topic "pt-$r" "${PRODUCE[@]}" "${PTFLAGS[@]}"
	run produce-tls bench produce --topic "tls-$r" "${PRODUCE[@]}" "${TLSFLAGS[@]}"
done
for r in $(seq "$REPEAT"); do
	run consume-plaintext bench consume "${CONSUME[@]}" "${PTFLAGS[@]}"
	run consume-tls bench consume "${CONSUME[@]}" "${TLSFLAGS[@]}"
done
"$S" user create bench --password bench-secret --mechanism SCRAM-SHA-512 "${PTFLAGS[@]}" >/dev/null
SCRAM=(-X sasl.mechanism=SCRAM-SHA-512 -X sasl.username=bench -X sasl.password=bench-secret)
run connect-plaintext bench connect --count "$CONNECTS" --json "${PTFLAGS[@]}"
run connect-tls bench connect --count "$CONNECTS" --json "${TLSFLAGS[@]}"
run connect-scram bench connect --count "$CONNECTS" --json --brokers "127.0.0.1:$SASLPT" -X security.protocol=SASL_PLAINTEXT "${SCRAM[@]}"
run connect-scram-tls bench connect --count "$CONNECTS" --json --brokers "127.0.0.1:$SASLSSL" -X security.protocol=SASL_SSL \
	-X "ssl.ca.location=$WORK/certs/ca.pem" "${SCRAM[@]}"
python3 - "$RES" <<'PY'
import json, statistics, sys
cells = {}
setup = {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o["cell"].startswith("connect-"):
        setup[o["cell"]] = o["result"]["latency_us"]
        continue
    cells.setdefault(o["cell"], []).append(o["result"]["mb_per_sec"])
med = {k: statistics.median(v) for k, v in cells.items()}
for k, v in cells.items():
    print(f"{k}: median {med[k]:.1f} MiB/s of {', '.join(f'{x:.1f}' for x in v)}")
print(f"produce TLS/plaintext: {med['produce-tls']/med['produce-plaintext']:.2f} (goal >= 0.60)")
print(f"catch-up TLS/plaintext: {med['consume-tls']/med['consume-plaintext']:.2f} (goal >= 0.50)")
for k, l in setup.items():
    print(f"{k} setup ms: p50 {l['p50']/1000:.2f}, p99 {l['p99']/1000:.2f} ({l['count']} connections)")
PY
