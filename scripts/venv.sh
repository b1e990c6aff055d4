#!/usr/bin/env bash
# Create the pinned controller venv. pyspark has no wheel on PyPI: build it once and
# keep it in a cache keyed by version, so later venvs install it in seconds.
# The venv itself is cached by content (the pins, the Python, this script) under
# $cache/venvs/<key>, and $1 (.venv) links to it: a fresh clone with the same pins is
# ready in a second. The three newest cached venvs are kept.
set -euo pipefail
venv=${1:-.venv}
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${ANALYTICS_PLATFORM_CACHE:-$HOME/.cache/analytics-platform}
wheels=$cache/wheels
python=${PYTHON:-python3}
mkdir -p "$wheels" "$cache/venvs"
key=$( { cat "$here/requirements.txt" "$here"/images/*/requirements.txt "$0"; "$python" -VV; } \
       | sha256sum | cut -c1-16)
built=$cache/venvs/$key
exec 9>"$cache/venvs/.lock"
flock 9
link() {
  if [ -e "$venv" ] && [ ! -L "$venv" ]; then rm -rf "$venv"; fi
  ln -sfn "$built" "$venv"
  touch "$built"
  ls -1dt "$cache"/venvs/*/ | tail -n +4 | xargs -r rm -rf
  echo "venv: ready in $venv (-> $built)"
}
if [ -f "$built/.complete" ]; then link; exit 0; fi
rm -rf "$built"
venv_path=$venv
venv=$built
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
touch "$venv/.complete"
venv=$venv_path
link
