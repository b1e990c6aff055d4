#!/usr/bin/env python3
"""Write each role's README variable table from its meta/argument_specs.yml.

    scripts/role_docs.py           # rewrite the tables
    scripts/role_docs.py --check   # exit 1 naming every README that differs (pytest runs it)

The argument spec is the role's typed interface (Ansible checks every run against it);
the README's table under "## Role Variables" is generated from it, between two marker
comments, so the two cannot drift. The text around the table is the README's own. A
default shown is the spec's, else the literal in defaults/main.yml; a value computed
there (a template) shows as "derived".
"""

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- Generated from meta/argument_specs.yml by scripts/role_docs.py; edit the spec. -->"
END = "<!-- End of the generated table. -->"
# A spec entry no play calls, listing values a role computes from its inputs: shown as
# a second table, never validated (a role's preflight runs before any fact is gathered).
DERIVED = "derived"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(name: str, option: dict, defaults: dict) -> str:
    if "default" in option:
        value = option["default"]
    elif name in defaults:
        value = defaults[name]
    else:
        return "unset"
    if isinstance(value, str) and "{{" in value:
        return "derived"
    shown = json.dumps(value) if not isinstance(value, str) else value
    if len(shown) > 40:
        return "see `defaults/main.yml`"
    return f"`{_cell(shown)}`" if shown != "" else '`""`'


def _rows(options: dict, defaults: dict) -> list[str]:
    lines = ["| variable | type | default | meaning |", "| --- | --- | --- | --- |"]
    for name, option in options.items():
        kind = option.get("type", "str")
        if kind == "list" and "elements" in option:
            kind = f"list of {option['elements']}"
        description = option.get("description", "")
        if isinstance(description, list):
            description = " ".join(description)
        lines.append(
            f"| `{name}` | {kind} | {_default(name, option, defaults)} | {_cell(description)} |"
        )
    return lines


def table(role: Path) -> str:
    specs = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]
    path = role / "defaults/main.yml"
    defaults = (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}
    main = specs.get("main", {}).get("options") or {}
    lines = [BEGIN, ""] + _rows(main, defaults)
    for entry, spec in specs.items():
        if entry == "main":
            continue
        if entry == DERIVED:
            lines += ["", f"Derived: {_cell(spec.get('short_description', ''))}", ""]
            lines += _rows(spec.get("options") or {}, defaults)
            continue
        more = [n for n in (spec.get("options") or {}) if n not in main]
        also = f" Also: {', '.join(f'`{n}`' for n in more)}." if more else ""
        lines += ["", f"`tasks_from: {entry}`: {_cell(spec.get('short_description', ''))}{also}"]
    return "\n".join(lines + ["", END])


def render(readme: str, generated: str) -> str:
    if BEGIN in readme:
        head, rest = readme.split(BEGIN, 1)
        return head + generated + rest.split(END, 1)[1]
    # first run: the section's first table becomes the generated one (or it goes first)
    lines = readme.split("\n")
    start = lines.index("## Role Variables")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    first = next((i for i in range(start, end) if lines[i].startswith("|")), None)
    if first is None:
        return "\n".join(lines[: start + 1] + ["", generated] + lines[start + 1 :])
    last = first
    while last < len(lines) and lines[last].startswith("|"):
        last += 1
    return "\n".join(lines[:first] + [generated] + lines[last:])


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    for role in sorted((ROOT / "roles").iterdir()):
        readme = role / "README.md"
        if not (role / "meta/argument_specs.yml").exists() or not readme.exists():
            continue
        old = readme.read_text()
        new = render(old, table(role))
        if new != old:
            stale.append(str(readme.relative_to(ROOT)))
            if not check:
                readme.write_text(new)
    if check and stale:
        print(
            f"{', '.join(stale)}: the variable table differs from meta/argument_specs.yml. "
            "Fix: edit the spec, then run scripts/role_docs.py."
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
