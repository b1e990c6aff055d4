#!/usr/bin/env bash
# Runs commands at the same time, one "lane" each (make test: the cluster scenario in
# one, pytest and the role scenarios in the other). Much of a scenario's time is waiting
# (hosts booting, containers turning healthy, Spark jobs, load tests), so two lanes on two
# cores take far less than their sum; benchmarks are not run this way. Each lane's lines
# reach the terminal as they come, prefixed with its name; its whole output is also in
# $LANES_LOGS/NAME.log. Every lane runs to its end, even when another fails; then each
# lane's result and wall time are printed, with the end of its output when it failed.
#
#   scripts/lanes.sh NAME 'COMMAND' [NAME 'COMMAND' ...]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
logs=${LANES_LOGS:-$root/.cache/lanes}
mkdir -p "$logs"
[ $(($# % 2)) -eq 0 ] && [ $# -gt 0 ] || { echo "usage: $0 NAME 'COMMAND' [NAME 'COMMAND' ...]" >&2; exit 2; }

names=() pids=()
while [ $# -gt 0 ]; do
  name=$1 cmd=$2; shift 2
  echo "=== lane $name: $cmd"
  # The lane writes its command's exit status and its wall time once it ends (a
  # pipeline's status would be sed's).
  ( start=$(date +%s)
    bash -c "$cmd" > >(tee "$logs/$name.log" | sed -u "s/^/[$name] /") 2>&1
    echo "$? $(($(date +%s) - start))" > "$logs/$name.rc" ) &
  names+=("$name") pids+=($!)
done

failed=0
summary=()
for i in "${!names[@]}"; do
  wait "${pids[$i]}"
  name=${names[$i]}
  read -r rc seconds < "$logs/$name.rc" || { rc=1 seconds=?; }
  if [ "$rc" -eq 0 ]; then
    summary+=("lane $name: passed in $seconds s")
  else
    summary+=("lane $name: FAILED (exit $rc) after $seconds s")
    failed=1
  fi
done

sleep 1  # the prefixing sed of each lane flushes its last lines
for i in "${!names[@]}"; do
  name=${names[$i]}
  echo "=== lane $name: its end (whole output: $logs/$name.log)"
  # From molecule.sh's summary on (wall time per scenario, failed tasks), else the tail.
  awk '/^=== molecule: wall time per scenario/ {on = 1} on' "$logs/$name.log" | grep . \
    || tail -n 15 "$logs/$name.log"
done
echo "=== lanes"
printf '    %s\n' "${summary[@]}"
exit $failed
