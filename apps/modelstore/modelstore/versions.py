"""Model versions a team can trust: aliases, their history, the quality gate, rollback.

An *alias* (``production``, ``candidate``, or any lower-case name) points at one published
version of a model. Serving answers with ``production``; a model that has no production
alias yet (a store from before aliases) is served its newest version. An alias moves only
by a command (``python -m modelstore.versions``, ``playbooks/model.yml``) or by the quality
gate of a training run, and every move is recorded in ``alias_moves``: model, alias,
from, to, when, by what (``command``, ``gate``, ``schedule``) and why.

The gate (``gate``): a model declares the metric that judges it, its direction and a
tolerance (``GATE`` in its package, or the training run's overrides). A new version
becomes ``production`` only if its mean of that metric, over the scopes it shares with
production, is no worse than production's by more than the tolerance (relative);
otherwise it becomes ``candidate``. The first version of a model, and a forced run, pass.

    python -m modelstore.versions list sales_forecast
    python -m modelstore.versions promote sales_forecast 42 [--alias production]
    python -m modelstore.versions rollback sales_forecast     # twice: forward again
    python -m modelstore.versions pin sales_forecast candidate 41
    python -m modelstore.versions unpin sales_forecast candidate
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .store import (
    _PUBLISH_LOCK,
    StoreError,
    VersionNotFound,
    _readonly_query,
    connect,
    ensure_schema,
    json_safe,
)

PRODUCTION, CANDIDATE = "production", "candidate"
MOVERS = ("command", "gate", "schedule")
ALIAS_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
# Production versions the pruning keeps besides the aliased ones (what a rollback needs).
KEEP_PRODUCTION = 3


class AliasError(StoreError):
    """A command that cannot be done; the message names the fix."""


def _check_alias(alias: str) -> str:
    if not isinstance(alias, str) or not ALIAS_RE.match(alias):
        raise AliasError(
            f"alias {alias!r} is not a name: use lower-case letters, digits, '-' and '_' "
            "(e.g. production, candidate)"
        )
    return alias


def set_alias(
    dsn: str | None, model: str, alias: str, version_id: int | None, *, by: str, why: str = "",
    conn=None,
) -> int | None:  # fmt: skip
    """Point ``alias`` of ``model`` at a published ``version_id`` (None: remove the alias)
    and record the move. Returns the version it pointed at before (None: none)."""
    _check_alias(alias)
    if by not in MOVERS:
        raise ValueError(f"by must be one of {', '.join(MOVERS)}, not {by!r}")
    if conn is None:
        with connect(dsn) as own:
            ensure_schema(own)
            with own.transaction():
                return _set_alias(own, model, alias, version_id, by, why)
    with conn.transaction():
        return _set_alias(conn, model, alias, version_id, by, why)


def _set_alias(conn, model, alias, version_id, by, why) -> int | None:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PUBLISH_LOCK,))
    if version_id is not None:
        found = conn.execute(
            "SELECT model FROM model_versions WHERE id = %s AND published", (version_id,)
        ).fetchone()
        if found is None or found[0] != model:
            known = [r[0] for r in conn.execute(
                "SELECT id FROM model_versions WHERE published AND model = %s ORDER BY id DESC",
                (model,),
            )]  # fmt: skip
            if not known:
                raise AliasError(f"model {model!r} has no published version: train it first")
            raise AliasError(
                f"model {model!r} has no published version {version_id} (pruned, or of "
                f"another model); its versions: {', '.join(map(str, known))}"
            )
    row = conn.execute(
        "SELECT version_id FROM model_aliases WHERE model = %s AND alias = %s", (model, alias)
    ).fetchone()
    before = int(row[0]) if row else None
    if before == version_id:
        return before
    if version_id is None:
        conn.execute("DELETE FROM model_aliases WHERE model = %s AND alias = %s", (model, alias))
    else:
        conn.execute(
            "INSERT INTO model_aliases (model, alias, version_id) VALUES (%s, %s, %s)"
            " ON CONFLICT (model, alias) DO UPDATE SET version_id = EXCLUDED.version_id",
            (model, alias, version_id),
        )
    conn.execute(
        "INSERT INTO alias_moves (model, alias, from_version, to_version, moved_by, reason)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (model, alias, before, version_id, by, why),
    )
    return before


def aliases(dsn: str | None, model: str | None = None) -> dict[str, dict[str, int]]:
    """{model: {alias: version}}."""
    rows = _readonly_query(
        dsn,
        "SELECT model, alias, version_id FROM model_aliases"
        " WHERE (%s::text IS NULL OR model = %s) ORDER BY model, alias",
        (model, model),
    )
    out: dict[str, dict[str, int]] = {}
    for name, alias, vid in rows:
        out.setdefault(name, {})[alias] = int(vid)
    return out


def moves(dsn: str | None, model: str, limit: int = 50) -> list[dict]:
    """The alias moves of a model, oldest first (the newest ``limit``)."""
    rows = _readonly_query(
        dsn,
        "SELECT * FROM (SELECT id, alias, from_version, to_version, moved_at, moved_by, reason"
        " FROM alias_moves WHERE model = %s ORDER BY id DESC LIMIT %s) m ORDER BY id",
        (model, int(limit)),
    )
    return [
        {"alias": a, "from": f, "to": t, "at": at.isoformat(), "by": by, "why": why}
        for _, a, f, t, at, by, why in rows
    ]


def rollback(dsn: str | None, model: str, alias: str = PRODUCTION, *, by: str = "command") -> tuple:
    """Move ``alias`` back to where its last move took it from (twice: forward again).
    Returns (from, to)."""
    with connect(dsn) as conn:
        ensure_schema(conn)
        last = conn.execute(
            "SELECT from_version, to_version FROM alias_moves WHERE model = %s AND alias = %s"
            " ORDER BY id DESC LIMIT 1",
            (model, alias),
        ).fetchone()
        if last is None or last[0] is None:
            raise AliasError(
                f"model {model!r} has no {alias} version to go back to (its {alias} alias "
                "never moved from one version to another): promote a version instead"
            )
        back = int(last[0])
        set_alias(None, model, alias, back, by=by, conn=conn,
                  why=f"rollback from {last[1]} to {back}")  # fmt: skip
    return last[1], back


@dataclass(frozen=True)
class Gate:
    """What judges a model's new version against production."""

    metric: str
    direction: str = "min"  # min: lower is better; max: higher is better
    tolerance: float = 0.0  # relative: 0.05 lets the new version be 5 % worse

    @classmethod
    def parse(cls, spec: Any, where: str) -> Gate:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("metric"), str):
            raise ValueError(
                f"{where}: GATE must be a dict with 'metric' (a per-scope metric of fit), "
                "e.g. {'metric': 'mae', 'direction': 'min', 'tolerance': 0.05}"
            )
        direction = spec.get("direction", "min")
        if direction not in ("min", "max"):
            raise ValueError(f"{where}: GATE direction must be 'min' or 'max', not {direction!r}")
        tolerance = spec.get("tolerance", 0.0)
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0:
            raise ValueError(f"{where}: GATE tolerance must be a number >= 0 (0.05: 5 % worse)")
        return cls(spec["metric"], direction, float(tolerance))


def compare(conn, metric: str, new_id: int, old_id: int) -> tuple[float | None, float | None, int]:
    """Means of ``metric`` of two versions over the scopes both have, and their count."""
    row = conn.execute(
        "SELECT avg((n.metrics ->> %s)::float8), avg((o.metrics ->> %s)::float8), count(*)"
        " FROM scope_models n JOIN scope_models o ON o.scope = n.scope AND o.version_id = %s"
        " WHERE n.version_id = %s AND jsonb_typeof(n.metrics -> %s) = 'number'"
        " AND jsonb_typeof(o.metrics -> %s) = 'number'",
        (metric, metric, old_id, new_id, metric, metric),
    ).fetchone()
    return row[0], row[1], int(row[2])


def gate(
    dsn: str | None, model: str, version_id: int, rule: Gate | None, *, force: bool = False,
    by: str = "gate",
) -> dict:  # fmt: skip
    """Decide and move the alias of a just-published version: production or candidate.
    Returns the decision: {alias, reason, metric, new, production, scopes, tolerance}."""
    with connect(dsn) as conn:
        ensure_schema(conn)
        with conn.transaction():
            row = conn.execute(
                "SELECT version_id FROM model_aliases WHERE model = %s AND alias = %s",
                (model, PRODUCTION),
            ).fetchone()
            current = int(row[0]) if row else None
            decision: dict[str, Any] = {"version": version_id, "production_before": current}
            if force:
                alias, reason = PRODUCTION, "forced (train_force)"
                by = "command"
            elif current is None:
                alias, reason = PRODUCTION, "no production version yet (the first version)"
            elif rule is None:
                alias, reason = PRODUCTION, "the model declares no GATE"
            else:
                new, old, common = compare(conn, rule.metric, version_id, current)
                decision.update(metric=rule.metric, direction=rule.direction,
                                tolerance=rule.tolerance, new=new, production=old,
                                scopes=common)  # fmt: skip
                if not common or new is None or old is None:
                    alias = CANDIDATE
                    reason = (f"no scope has {rule.metric} in both this version and "
                              f"production {current}: cannot judge")  # fmt: skip
                else:
                    margin = rule.tolerance * abs(old)
                    ok = new <= old + margin if rule.direction == "min" else new >= old - margin
                    alias = PRODUCTION if ok else CANDIDATE
                    reason = (
                        f"{rule.metric} {new:.4g} against production {current}'s {old:.4g} "
                        f"over {common} scopes ({'lower' if rule.direction == 'min' else 'higher'}"
                        f" is better, tolerance {rule.tolerance:.0%}): "
                        + ("passed" if ok else "worse, refused production")
                    )
            set_alias(None, model, alias, version_id, by=by, why=reason, conn=conn)
    decision.update(alias=alias, reason=reason)
    return json_safe(decision)


def production_versions(conn, model: str, keep: int = KEEP_PRODUCTION) -> list[int]:
    """The versions production pointed at last (newest first), what pruning keeps."""
    rows = conn.execute(
        "SELECT to_version FROM alias_moves WHERE model = %s AND alias = %s"
        " AND to_version IS NOT NULL ORDER BY id DESC LIMIT 50",
        (model, PRODUCTION),
    ).fetchall()
    out: list[int] = []
    for (vid,) in rows:
        if vid not in out:
            out.append(int(vid))
    return out[:keep]


# ------------------------------------------------------------------------- the command


def describe(dsn: str | None, model: str) -> dict:
    """A model's versions (newest first) with metrics and aliases, and its alias moves."""
    from .store import list_versions

    versions = list_versions(dsn, model)
    if not versions:
        raise AliasError(f"model {model!r} has no published version: train it first "
                         "(playbooks/train.yml -e train_model=...)")  # fmt: skip
    named = aliases(dsn, model).get(model, {})
    by_version: dict[int, list[str]] = {}
    for alias, vid in named.items():
        by_version.setdefault(vid, []).append(alias)
    return {
        "model": model,
        "aliases": named,
        "versions": [
            {
                "id": v["id"],
                "created": v["created"].isoformat(),
                "scopes": v["scope_count"],
                "aliases": sorted(by_version.get(v["id"], [])),
                "metrics": v["metrics"],
            }
            for v in versions
        ],  # fmt: skip
        "moves": moves(dsn, model),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m modelstore.versions", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--dsn", default=None, help="default: $MODEL_STORE_DSN")
    parser.add_argument("--by", default="command", choices=MOVERS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("list", help="versions, aliases and moves").add_argument("model")
    p = sub.add_parser("promote", help="point an alias (production) at a version")
    p.add_argument("model"), p.add_argument("version", type=int)
    p.add_argument("--alias", default=PRODUCTION), p.add_argument("--why", default="")
    p = sub.add_parser("rollback", help="production back to the version before")
    p.add_argument("model"), p.add_argument("--alias", default=PRODUCTION)
    p = sub.add_parser("pin", help="point any alias at a version")
    p.add_argument("model"), p.add_argument("alias"), p.add_argument("version", type=int)
    p.add_argument("--why", default="")
    p = sub.add_parser("unpin", help="remove an alias")
    p.add_argument("model"), p.add_argument("alias")
    args = parser.parse_args(argv)
    try:
        if args.verb == "list":
            out = describe(args.dsn, args.model)
        elif args.verb in ("promote", "pin"):
            before = set_alias(args.dsn, args.model, args.alias, args.version, by=args.by,
                               why=args.why or f"{args.verb} by command")  # fmt: skip
            out = {"model": args.model, "alias": args.alias, "from": before, "to": args.version}
        elif args.verb == "rollback":
            before, after = rollback(args.dsn, args.model, args.alias, by=args.by)
            out = {"model": args.model, "alias": args.alias, "from": before, "to": after}
        else:
            before = set_alias(args.dsn, args.model, args.alias, None, by=args.by,
                               why="unpin by command")  # fmt: skip
            if before is None:
                raise AliasError(f"model {args.model!r} has no alias {args.alias!r}")
            out = {"model": args.model, "alias": args.alias, "from": before, "to": None}
    except (AliasError, VersionNotFound) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(json_safe(out), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
