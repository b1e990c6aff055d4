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
# The venv's tools run each other by name (molecule runs ansible-playbook and pytest,
# pytest runs ansible-playbook): every Python of this venv puts its bin first on PATH,
# so `../../.venv/bin/molecule test` works with no venv activated.
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cat > "$site/analytics_platform_path.pth" <<'PTH'
import os, sys; b = os.path.join(sys.prefix, "bin"); p = os.environ.get("PATH", ""); os.environ["PATH"] = p if b in p.split(os.pathsep) else b + os.pathsep + (p or os.defpath)
PTH
echo "venv: ready in $venv"
