#!/usr/bin/env bash
# kcat_refused.sh BOOTSTRAP CONFIG REGEX: kcat -L with librdkafka's properties
# in CONFIG (a wrong password, no client certificate) must fail within 15 s,
# and kcat must say why: a line of its stderr matches the extended REGEX.
# Prints one line "PASS kcat refused: ..." or "FAIL kcat refused: ...".
set -euo pipefail

if [[ $# -ne 3 ]]; then
	echo "usage: $0 BOOTSTRAP CONFIG REGEX" >&2
	exit 2
fi
bootstrap=$1 config=$2 want=$3
limit=15 # seconds: kcat gives up on metadata after -m 5
err=$(mktemp)
trap 'rm -f "$err"' EXIT

t0=$EPOCHREALTIME rc=0
timeout "$limit" kcat -F "$config" -L -b "$bootstrap" -m 5 >/dev/null 2>"$err" || rc=$?
took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
said=$(grep -Ei -m1 -- "$want" "$err" || true)
if ((rc == 0)); then
	echo "FAIL kcat refused: kcat -L succeeded with the settings of $config"
elif ((rc == 124)); then
	echo "FAIL kcat refused: kcat -L still running after ${limit}s; it said: $(head -3 "$err" | tr '\n' ' ')"
elif [[ -z $said ]]; then
	echo "FAIL kcat refused: kcat -L failed in ${took}s, but no line of its stderr matches /$want/: $(head -3 "$err" | tr '\n' ' ')"
else
	echo "PASS kcat refused: kcat -L failed in ${took}s: ${said:0:200}"
	exit 0
fi
exit 1
