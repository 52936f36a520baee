#!/usr/bin/env bash
# restart_node.sh STRATA DIR I: restarts node I of the compat suite's
# cluster, whose files run.sh keeps in DIR: nodeI.args (its `strata serve`
# arguments, one per line), nodeI.pid and nodeI.log. SIGTERM (a controlled
# shutdown), then the same command again, appending to the log; it returns
# once the new process answers /readyz, or fails after 30 s.
set -euo pipefail
strata=$1 dir=$2 i=$3
mapfile -t args <"$dir/node$i.args"
pid=$(cat "$dir/node$i.pid")
kill -TERM "$pid" 2>/dev/null || true
deadline=$((SECONDS + 15))
while kill -0 "$pid" 2>/dev/null; do
	if ((SECONDS >= deadline)); then
		echo "node $i did not exit within 15s of SIGTERM" >&2
		exit 1
	fi
	sleep 0.05
done
"$strata" "${args[@]}" >>"$dir/node$i.log" 2>&1 &
echo $! >"$dir/node$i.pid"
admin=""
for ((k = 0; k < ${#args[@]}; k++)); do
	if [[ ${args[k]} == --admin ]]; then
		admin=${args[k + 1]}
	fi
done
ready() {
	if command -v curl >/dev/null; then
		curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null
	else
		/usr/bin/python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" 2>/dev/null
	fi
}
deadline=$((SECONDS + 30))
until ready "http://$admin/readyz"; do
	if ((SECONDS >= deadline)); then
		echo "node $i not ready within 30s of its restart" >&2
		exit 1
	fi
	sleep 0.05
done
