#!/usr/bin/env bash
# Runs Molecule scenarios one after the other (make molecule): role:NAME runs
# roles/NAME/molecule/default from the role's directory, as the ecosystem does; NAME runs
# the top-level molecule/NAME. Each scenario's output goes to the terminal and to
# $MOLECULE_LOGS/NAME.log. It stops at the first failure, and ends with each scenario's
# wall time and, on a failure, the failed tasks with their messages, so that the last
# lines of a CI log say what broke.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
logs=${MOLECULE_LOGS:-$root/.cache/molecule-logs}
mkdir -p "$logs"
# Molecule folds its output at the terminal's width: wide, so that a failed task's
# message stays on one line for the summary below.
export COLUMNS=${COLUMNS:-400}

times=()
failed=""
for spec in "$@"; do
  case $spec in
    role:*) name=${spec#role:}; dir=$root/roles/$name; args=(test) ;;
    *) name=$spec; dir=$root; args=(test -s "$name") ;;
  esac
  echo "=== molecule: $spec"
  start=$(date +%s)
  (cd "$dir" && molecule "${args[@]}") 2>&1 | tee "$logs/$name.log"
  rc=${PIPESTATUS[0]}
  seconds=$(($(date +%s) - start))
  if [ "$rc" -ne 0 ]; then
    times+=("$spec: FAILED after $seconds s")
    failed=$name
    break
  fi
  times+=("$spec: passed in $seconds s")
  echo "=== molecule: $spec passed in $seconds s"
done

echo "=== molecule: wall time per scenario"
printf '    %s\n' "${times[@]}"
[ -z "$failed" ] && exit 0

# The failed tasks: each "fatal:"/"failed:" line (ANSI colours and Molecule's frame
# stripped, cut to 2,000 characters, with up to 12 more lines of a result printed over
# several) after the TASK line it belongs to; ignored errors are left out. With none
# (Molecule itself failed), the log's last lines.
echo "=== molecule: $failed FAILED; the failed tasks (whole output: $logs/$failed.log)"
sed -E 's/\x1b\[[0-9;]*m//g; s/^ *│ ?//' "$logs/$failed.log" |
  awk '/^TASK \[/ {task = $0}
       pending != "" && /^\.\.\.ignoring/ {pending = ""; next}
       /^(fatal|failed): \[/ {if (pending != "") print pending; pending = "  " task "\n    " substr($0, 1, 2000); more = 12; next}
       pending != "" && more > 0 && NF > 0 {pending = pending "\n    " substr($0, 1, 300); more--; next}
       pending != "" {print pending; pending = ""}
       END {if (pending != "") print pending}' |
  tail -n 40 | grep . || tail -n 15 "$logs/$failed.log"
exit 1
