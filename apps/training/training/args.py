"""Command line of the training job: parsed and validated before Spark starts.

Every problem found here raises ``UsageError`` with a message naming the problem and
the fix; the entry point prints it and exits with status 2.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlsplit, urlunsplit

from modelstore import contract

SCOPE_TYPES = ("store", "product")
MAX_SCOPES = 100_000
DEFAULT_SYNTHETIC_SCOPES = "1-20"
DEFAULT_SYNTHETIC_START = date(2024, 1, 1)
DEFAULT_SYNTHETIC_END = date(2024, 12, 31)
SOURCE_KINDS = ("synthetic", "parquet:<path>", "csv:<path>", "jdbc:<jdbc-url>#<table>")
SYNTHETIC_COLUMNS = ("scope", "date", "sales")
MODELS_PATH_ENV = "ANALYTICS_MODELS_PATH"  # where the manifest of the installed models is
DEFAULT_MODEL_ENV = "ANALYTICS_DEFAULT_MODEL"  # overrides the manifest's default
DEFAULT_DATA_DIR = "/srv/analytics-platform/data"
_PARAM_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RANGE_RE = re.compile(r"^(\d+)\s*-\s*(\d+)$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.:]+$")
_URI_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class UsageError(ValueError):
    """A bad argument; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class Source:
    kind: str  # synthetic | parquet | csv | jdbc
    location: str = ""  # path or JDBC URL
    table: str = ""  # jdbc only

    def describe(self) -> str:
        """The source for logs and the version's params, without credentials."""
        if self.kind == "synthetic":
            return "synthetic"
        if self.kind == "jdbc":
            return f"jdbc:{_redact_url(self.location)}#{self.table}"
        return f"{self.kind}:{self.location}"


@dataclass(frozen=True)
class Config:
    model: contract.Model
    params: dict  # the model's PARAMS with this run's --param overrides
    scope_type: str
    scopes: tuple[str, ...] | None  # None: every scope of the input
    scopes_spec: str
    start: date | None
    end: date | None
    source: Source
    keep_versions: int
    store_dsn: str = field(repr=False)
    seed: int = 42
    partitions: int | None = None
    ship_code: bool | None = None  # None: only when the job builds its own session
    gate: object = None  # modelstore.versions.Gate, None: every version becomes production
    force: bool = False  # production whatever the gate says
    moved_by: str = "gate"  # recorded in the alias moves: gate or schedule


def parse_scopes(spec: str) -> tuple[str, ...] | None:
    """``"1-5,9"`` -> ("1", "2", "3", "4", "5", "9"); ``"all"`` -> None.

    Tokens are integers, inclusive integer ranges ``a-b`` (a <= b) or plain names
    (letters, digits, ``_ . :``). Order is kept, duplicates dropped.
    """
    text = (spec or "").strip()
    if not text:
        raise UsageError(
            "--scopes is empty: give scope ids like '1-200' or '1-5,9', or 'all' for every "
            "scope of the input"
        )
    if text.lower() == "all":
        return None
    seen: dict[str, None] = {}
    for raw in text.split(","):
        token = raw.strip()
        if not token:
            raise UsageError(
                f"--scopes {spec!r} has an empty item: separate ids and ranges with single "
                "commas, e.g. '1-5,9'"
            )
        match = _RANGE_RE.match(token)
        if match:
            lo, hi = int(match.group(1)), int(match.group(2))
            if lo > hi:
                raise UsageError(
                    f"--scopes range {token!r} is empty (start {lo} > end {hi}): write the "
                    f"smaller id first, e.g. '{hi}-{lo}'"
                )
            if hi - lo + 1 + len(seen) > MAX_SCOPES:
                raise UsageError(
                    f"--scopes {spec!r} selects more than {MAX_SCOPES} scopes: split the "
                    "training into several runs"
                )
            for value in range(lo, hi + 1):
                seen[str(value)] = None
        elif token.isdigit():
            seen[str(int(token))] = None
        elif "-" in token or not _NAME_RE.match(token):
            raise UsageError(
                f"--scopes item {token!r} is malformed: use ids ('9'), inclusive ranges "
                "('1-200') or names of letters, digits, '_', '.', ':' separated by commas"
            )
        else:
            seen[token] = None
        if len(seen) > MAX_SCOPES:
            raise UsageError(
                f"--scopes {spec!r} selects more than {MAX_SCOPES} scopes: split the training "
                "into several runs"
            )
    return tuple(seen)


def parse_date(value: str, option: str) -> date:
    text = (value or "").strip()
    try:
        if not _DATE_RE.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{option} {value!r} is not a date: use YYYY-MM-DD, e.g. 2024-01-31"
        ) from None


def parse_source(value: str) -> Source:
    text = (value or "").strip()
    kinds = ", ".join(SOURCE_KINDS)
    if text == "synthetic":
        return Source("synthetic")
    kind, sep, rest = text.partition(":")
    if not sep or kind not in ("parquet", "csv", "jdbc"):
        raise UsageError(f"--source {value!r} is not a known source: use one of {kinds}")
    rest = rest.strip()
    if kind in ("parquet", "csv"):
        if not rest:
            raise UsageError(f"--source {value!r} has no path: write {kind}:/path/to/data")
        if not _URI_SCHEME_RE.match(rest) and not rest.startswith("file:"):
            if not os.path.exists(rest):
                raise UsageError(
                    f"--source {value!r}: input path {rest!r} does not exist: check the path "
                    "(it must be readable by the driver and every executor)"
                )
            if not os.access(rest, os.R_OK):
                raise UsageError(
                    f"--source {value!r}: input path {rest!r} is not readable: fix its "
                    "permissions for the user running the job"
                )
        return Source(kind, rest)
    url, _, table = rest.rpartition("#")
    url, table = url.strip(), table.strip()
    if not url or not table:
        raise UsageError(
            f"--source {value!r} needs a JDBC URL and a table: write "
            "jdbc:postgresql://host:5432/db#schema.table"
        )
    if not url.startswith("jdbc:"):
        url = "jdbc:" + url
    return Source("jdbc", url, table)


def _positive(value: int, option: str, minimum: int = 1) -> int:
    if value < minimum:
        raise UsageError(f"{option} must be at least {minimum}, got {value}")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits by itself; raise instead
        raise UsageError(f"{message} (see train.py --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="train.py",
        description=(
            "Train one model of a model package per scope with Spark and publish them as "
            "one version of that model to the model store."
        ),
    )
    parser.add_argument(
        "--model",
        default=None,
        help="the model package to train (default: the image's default model, the first "
        "of platform_models)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one of the model's PARAMS for this run (repeatable)",
    )
    parser.add_argument(
        "--scope-type",
        default=None,
        help=f"what a scope is, for the synthetic data: {', '.join(SCOPE_TYPES)} "
        "(default: the model's TRAINING, else store)",
    )
    parser.add_argument(
        "--scopes",
        default=None,
        help="scope ids: '1-200', '1-5,9', or 'all' (default: the model's TRAINING, else "
        f"all of the input; {DEFAULT_SYNTHETIC_SCOPES} for --source synthetic)",
    )
    parser.add_argument(
        "--start", default=None, help="first day, YYYY-MM-DD (inclusive; the model's date field)"
    )
    parser.add_argument("--end", default=None, help="last day, YYYY-MM-DD (inclusive)")
    parser.add_argument(
        "--source",
        default=None,
        help="input: synthetic (columns scope, date, sales), parquet:<path>, csv:<path> or "
        "jdbc:<jdbc-url>#<table> holding the model's scope column, input fields and target "
        "(default: the model's TRAINING source). {data_dir} in a path is --data-dir",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help=f"the data directory of the cluster (default: ${{ANALYTICS_DATA_DIR}} or "
        f"{DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--keep-versions", type=int, default=5, help="published versions to keep (default: 5)"
    )
    parser.add_argument(
        "--store-dsn",
        default=None,
        help="model store DSN (default: $MODEL_STORE_DSN)",
    )
    parser.add_argument(
        "--seed", type=int, default=42, help="seed of the synthetic data (default: 42)"
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="partitions the scopes are trained in (default: from the cluster's cores)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="the new version becomes production whatever the quality gate says",
    )
    parser.add_argument(
        "--gate",
        default=None,
        metavar="METRIC:DIRECTION:TOLERANCE",
        help="judge the new version by this instead of the model's GATE, e.g. mae:min:0.05 "
        "(relative tolerance); 'none': no gate",
    )
    parser.add_argument(
        "--moved-by",
        choices=("gate", "schedule"),
        default="gate",
        help="what the alias moves are recorded as done by (the schedule sets 'schedule')",
    )
    ship = parser.add_mutually_exclusive_group()
    ship.add_argument(
        "--ship-code",
        dest="ship_code",
        action="store_const",
        const=True,
        default=None,
        help="send the training and modelstore packages to the executors (default when "
        "the job builds its own Spark session)",
    )
    ship.add_argument(
        "--no-ship-code",
        dest="ship_code",
        action="store_const",
        const=False,
        help="rely on the packages being installed on the executors",
    )
    return parser


def default_model_name() -> str:
    """$ANALYTICS_DEFAULT_MODEL, else the default of the image's model manifest."""
    name = os.environ.get(DEFAULT_MODEL_ENV, "").strip()
    if name:
        return name
    manifest = contract.read_manifest(os.environ.get(MODELS_PATH_ENV, contract.DEFAULT_MODELS_PATH))
    if not manifest.get("default"):
        raise UsageError(
            "no --model given and no default model installed: pass --model NAME (a package "
            f"of the models directory) or set {DEFAULT_MODEL_ENV}"
        )
    return manifest["default"]


def parse_params(items: list[str], model: contract.Model) -> dict:
    overrides = {}
    for item in items:
        match = _PARAM_RE.match(item.strip())
        if not match:
            raise UsageError(f"--param {item!r} is not NAME=VALUE, e.g. --param holdout_days=14")
        overrides[match.group(1)] = match.group(2)
    try:
        return model.run_params(overrides)
    except contract.ContractError as exc:
        raise UsageError(str(exc)) from None


def parse_args(argv: list[str] | None) -> Config:
    """Validate the command line; raises UsageError (or SystemExit 0 for --help)."""
    parser = build_parser()
    ns = parser.parse_args(argv)

    try:
        model = contract.load(ns.model or default_model_name())
    except contract.ContractError as exc:
        raise UsageError(f"--model: {exc}") from None
    defaults = model.training
    params = parse_params(ns.param, model)
    raw_type = ns.scope_type if ns.scope_type is not None else defaults.get("scope_type", "store")
    scope_type = (raw_type or "").strip().lower()
    if scope_type not in SCOPE_TYPES:
        raise UsageError(
            f"--scope-type {raw_type!r} is unknown: use one of {', '.join(SCOPE_TYPES)}"
        )
    data_dir = ns.data_dir or os.environ.get("ANALYTICS_DATA_DIR") or DEFAULT_DATA_DIR
    raw_source = ns.source if ns.source is not None else defaults.get("source")
    if not raw_source:
        raise UsageError(
            f"--source is needed: model '{model.name}' declares no TRAINING source. Give one "
            f"of {', '.join(SOURCE_KINDS)}"
        )
    source = parse_source(raw_source.replace("{data_dir}", data_dir.rstrip("/")))
    if source.kind == "synthetic":
        needs = {model.scope_column, model.target, *model.schema.names}
        if not needs <= set(SYNTHETIC_COLUMNS) or model.scope_column != "scope":
            raise UsageError(
                f"--source synthetic gives the columns {', '.join(SYNTHETIC_COLUMNS)}, but "
                f"model '{model.name}' needs {', '.join(sorted(needs))}: train it from a file "
                "(--source parquet:<path> or csv:<path>)"
            )
    if ns.scopes is not None:
        spec = ns.scopes
    elif ns.source is None and defaults.get("scopes"):
        spec = str(defaults["scopes"])
    else:
        spec = DEFAULT_SYNTHETIC_SCOPES if source.kind == "synthetic" else "all"
    scopes = parse_scopes(spec)
    # TRAINING's span belongs to TRAINING's source; another input is read whole by default.
    own = defaults if ns.source is None else {}
    start_text = ns.start if ns.start is not None else own.get("start")
    end_text = ns.end if ns.end is not None else own.get("end")
    start = parse_date(start_text, "--start") if start_text is not None else None
    end = parse_date(end_text, "--end") if end_text is not None else None
    if (start or end) and not any(f.type == "date" for f in model.schema.fields):
        raise UsageError(
            f"--start/--end select days, but model '{model.name}' has no date field: drop them"
        )
    if source.kind == "synthetic":
        if scopes is None:
            raise UsageError(
                "--scopes all needs an input to list the scopes: give ids for --source "
                "synthetic, e.g. --scopes 1-200"
            )
        bad = [s for s in scopes if not s.isdigit()]
        if bad:
            raise UsageError(
                f"--scopes {spec!r}: synthetic scopes are integer ids, not {bad[0]!r}: use "
                "ids and ranges like '1-5,9'"
            )
        start = start or (DEFAULT_SYNTHETIC_START if end is None else end - timedelta(days=365))
        end = end or max(DEFAULT_SYNTHETIC_END, start + timedelta(days=365))
    if start and end and end < start:
        raise UsageError(
            f"--end {end.isoformat()} is before --start {start.isoformat()}: swap them or "
            "fix the span"
        )
    keep = _positive(ns.keep_versions, "--keep-versions")
    if ns.partitions is not None:
        _positive(ns.partitions, "--partitions")
    gate = model.gate
    if ns.gate is not None:
        gate = parse_gate(ns.gate, model)
    dsn = ns.store_dsn if ns.store_dsn else os.environ.get("MODEL_STORE_DSN", "")
    if not dsn:
        raise UsageError(
            "no model store: pass --store-dsn postgresql://user:password@host:5432/db or set "
            "MODEL_STORE_DSN"
        )
    return Config(
        model=model,
        params=params,
        scope_type=scope_type,
        scopes=scopes,
        scopes_spec=spec,
        start=start,
        end=end,
        source=source,
        keep_versions=keep,
        store_dsn=dsn,
        seed=ns.seed,
        partitions=ns.partitions,
        ship_code=ns.ship_code,
        gate=gate,
        force=ns.force,
        moved_by=ns.moved_by,
    )


def parse_gate(text: str, model: contract.Model):
    """``METRIC:DIRECTION:TOLERANCE`` (the last two optional) or ``none``."""
    from modelstore.versions import Gate

    if text.strip().lower() == "none":
        return None
    parts = text.strip().split(":")
    spec = {"metric": parts[0]}
    if len(parts) > 1:
        spec["direction"] = parts[1]
    try:
        if len(parts) > 2:
            spec["tolerance"] = float(parts[2])
        if len(parts) > 3 or not parts[0]:
            raise ValueError
        return Gate.parse(spec, f"--gate {text!r}")
    except ValueError as exc:
        detail = str(exc) if str(exc) else "give METRIC[:min|max[:TOLERANCE]], e.g. mae:min:0.05"
        raise UsageError(f"--gate {text!r}: {detail}") from None


def _redact_url(url: str) -> str:
    """A JDBC/DB URL without user info and query string (which may carry passwords)."""
    prefix = ""
    if url.startswith("jdbc:"):
        prefix, url = "jdbc:", url[5:]
    try:
        parts = urlsplit(url)
    except ValueError:
        return prefix + url.split("?", 1)[0]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return prefix + urlunsplit((parts.scheme, netloc, parts.path, "", ""))
