#!/usr/bin/env bash
# Fill a wheelhouse with every pin of the given requirements files, for the images'
# Python (Debian bookworm: CPython 3.11, x86_64), whatever Python the controller runs.
# Wheels already present are kept (the cache); pure-Python projects without a wheel on
# the index (pyspark) are built once with `pip wheel --no-deps`.
#   scripts/wheelhouse.sh WHEELHOUSE requirements.txt [...]
set -euo pipefail
wheelhouse=$1; shift
pip=(${PIP:-python3 -m pip})
pyver=${IMAGE_PYTHON_VERSION:-3.11}
mkdir -p "$wheelhouse"
fetched=0
for req in "$@"; do
  while read -r pin; do
    name=${pin%%==*}; version=${pin#*==}
    norm=$(echo "$name" | tr 'A-Z.-' 'a-z__')
    # grep reads all its input (no -q): an early exit would SIGPIPE ls/tr, and pipefail
    # would then report a wheel that is there as missing.
    if ls "$wheelhouse" | tr 'A-Z.-' 'a-z__' | grep "^${norm}_${version//./_}_" >/dev/null; then continue; fi
    echo "wheelhouse: fetching $pin" >&2; fetched=1
    if ! "${pip[@]}" download -q --no-deps --only-binary=:all: --implementation cp \
          --python-version "$pyver" --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
          --platform manylinux_2_28_x86_64 --platform any -d "$wheelhouse" "$pin" 2>/dev/null; then
      "${pip[@]}" wheel -q --no-deps -w "$wheelhouse" "$pin"
    fi
  done < <(sed -e 's/#.*//' -e 's/\[[^]]*\]//' -e 's/[[:space:]]//g' "$req" | grep '==')
done
[ "$fetched" = 1 ] && echo "wheelhouse: updated" || echo "wheelhouse: complete"
