#!/usr/bin/env bash
# Create the pinned controller venv. pyspark has no wheel on PyPI: build it once and
# keep it in a cache keyed by version, so later venvs install it in seconds.
set -euo pipefail
venv=${1:-.venv}
here=$(cd "$(dirname "$0")/.." && pwd)
wheels=${ANALYTICS_PLATFORM_CACHE:-$HOME/.cache/analytics-platform}/wheels
python=${PYTHON:-python3}
mkdir -p "$wheels"
"$python" -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip >/dev/null
pyspark=$(grep -E '^pyspark==' "$here/images/spark_runtime/requirements.txt")
if ! ls "$wheels"/pyspark-"${pyspark#pyspark==}"-*.whl >/dev/null 2>&1; then
  echo "venv: building the $pyspark wheel once (about a minute; cached in $wheels)"
  "$venv/bin/pip" wheel -q --no-deps "$pyspark" -w "$wheels"
fi
"$venv/bin/pip" install -q --find-links "$wheels" -r "$here/requirements.txt"
echo "venv: ready in $venv"
