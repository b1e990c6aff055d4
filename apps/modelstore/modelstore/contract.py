"""The model contract: what a team's model package declares, and the platform's wrappers.

A model is a Python package (a folder ``<name>/`` holding ``__init__.py``) that defines:

``SCHEMA``   the input fields: ``{"field": {"type": ..., ...}}`` (see ``Field``)
``TARGET``   the column of the training data that ``fit`` learns
``fit``      ``fit(rows, params) -> (fitted, metrics)``, once per scope
``predict``  ``predict(fitted, rows) -> one value per row``
``EXAMPLE``  one instance that passes ``SCHEMA`` (docs, status, smoke tests)

and may define ``PARAMS`` (defaults of ``params``; a run overrides them by name),
``TRAINING`` (the defaults of a training run: source, scopes, start, end, scope_type),
``SCOPE_COLUMN`` (the column naming a row's scope in the training data, ``scope`` by
default), ``SUMMARY`` (the metrics averaged over the scopes for the version; all numeric
ones by default) and ``DESCRIPTION``. Extra packages it needs are pinned ``name==version`` in
``<name>/requirements.txt``. ``models/README.md`` is the user's page of this contract.

``check_package`` (and ``python -m modelstore.contract check``) refuses a package that
breaks the contract with a message naming the model, the problem and the fix.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import math
import os
import re
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

FIELD_TYPES = ("number", "integer", "string", "category", "date")
FIELD_KEYS = {"type", "required", "min", "max", "values", "description"}
# pandas' datetime64[ns] covers 1677-09-21 .. 2262-04-11; default bounds of a date field
# stay well inside it, so no valid request can overflow a model's date arithmetic.
DATE_MIN, DATE_MAX = date(1900, 1, 1), date(2199, 12, 31)
MODEL_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)(\[[^\]]*\])?==([^\s;=<>!~]+)$")
RESERVED_COLUMNS = ("scope",)
MANIFEST = "models.json"
DEFAULT_MODELS_PATH = "/opt/models"


class ContractError(ValueError):
    """A model package breaks the contract; the message names the model and the fix."""


class SchemaError(ContractError):
    """A SCHEMA that does not parse."""


class ValidationError(ValueError):
    """An instance breaks the schema: names the field, the value and what was expected."""

    def __init__(self, field: str, value: Any, expected: str, problem: str, where: str = ""):
        self.field, self.value, self.expected, self.where = field, value, expected, where
        prefix = f"{where}: " if where else ""
        shown = "" if value is _MISSING else f" {_show(value)}"
        super().__init__(f"{prefix}field '{field}'{shown} {problem}; expected {expected}")

    def to_dict(self) -> dict:
        body = {"field": self.field, "expected": self.expected}
        if self.value is not _MISSING:
            body["value"] = self.value if _jsonable(self.value) else repr(self.value)
        if self.where:
            body["where"] = self.where
        return body


_MISSING = object()


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _jsonable(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, bool | int | str)


@dataclass(frozen=True)
class Field:
    """One input field. ``type`` is number, integer, string, category or date.

    ``required`` (default true), ``min``/``max`` (number, integer, date: inclusive;
    string: length), ``values`` (category: the allowed values), ``description``."""

    name: str
    type: str
    required: bool = True
    min: Any = None
    max: Any = None
    values: tuple = ()
    description: str = ""

    def expected(self) -> str:
        if self.type == "category":
            return "one of " + ", ".join(repr(v) for v in self.values)
        if self.type == "date":
            return f"a date YYYY-MM-DD between {self.min} and {self.max}"
        kind = {"number": "a number", "integer": "an integer", "string": "a string"}[self.type]
        if self.min is not None and self.max is not None:
            what = "of length" if self.type == "string" else ""
            return f"{kind} {what} between {self.min} and {self.max}".replace("  ", " ")
        if self.min is not None:
            return (
                f"{kind} >= {self.min}"
                if self.type != "string"
                else f"{kind} of length >= {self.min}"
            )
        if self.max is not None:
            return (
                f"{kind} <= {self.max}"
                if self.type != "string"
                else f"{kind} of length <= {self.max}"
            )
        return kind

    def describe(self) -> dict:
        out: dict[str, Any] = {"type": self.type, "required": self.required}
        if self.type == "category":
            out["values"] = list(self.values)
        if self.min is not None:
            out["min"] = self.min.isoformat() if isinstance(self.min, date) else self.min
        if self.max is not None:
            out["max"] = self.max.isoformat() if isinstance(self.max, date) else self.max
        if self.description:
            out["description"] = self.description
        return out

    def coerce(self, value: Any, where: str = "") -> Any:
        """The value as the model sees it (float, int, str, or an ISO date string);
        ValidationError when it breaks the field."""

        def bad(problem: str):
            return ValidationError(self.name, value, self.expected(), problem, where)

        if self.type in ("number", "integer"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise bad(f"is a {type(value).__name__}, not a number")
            if isinstance(value, float) and not math.isfinite(value):
                raise bad("is not finite")
            if self.type == "integer":
                if isinstance(value, float):
                    if not value.is_integer():
                        raise bad("is not a whole number")
                    value = int(value)
            else:
                value = float(value)
            if (self.min is not None and value < self.min) or (
                self.max is not None and value > self.max
            ):
                raise bad("is out of range")
            return value
        if self.type == "date":
            if not isinstance(value, str):
                raise bad(f"is a {type(value).__name__}, not a string")
            text = value.strip()
            try:
                if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                    raise ValueError(text)
                day = date.fromisoformat(text)
            except ValueError:
                raise bad("is not a valid date") from None
            if day < self.min or day > self.max:
                raise bad("is out of range")
            return text
        if self.type == "category":
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise bad(f"is a {type(value).__name__}")
            if value not in self.values:
                text = str(value).strip()
                matches = [v for v in self.values if str(v) == text]
                if not matches:
                    raise bad("is not an allowed value")
                value = matches[0]
            return value
        # string
        if not isinstance(value, str):
            raise bad(f"is a {type(value).__name__}, not a string")
        if (self.min is not None and len(value) < self.min) or (
            self.max is not None and len(value) > self.max
        ):
            raise bad("has the wrong length")
        return value


class Schema:
    """The parsed ``SCHEMA`` of a model: an ordered tuple of ``Field``."""

    def __init__(self, fields: Sequence[Field]):
        self.fields = tuple(fields)
        self.names = tuple(f.name for f in self.fields)
        self._by_name = {f.name: f for f in self.fields}

    def __getitem__(self, name: str) -> Field:
        return self._by_name[name]

    @classmethod
    def parse(cls, spec: Any, model: str = "model") -> Schema:
        """A Schema from the declaration; SchemaError naming the field and the fix."""
        where = f"model '{model}': SCHEMA"
        if not isinstance(spec, Mapping) or not spec:
            raise SchemaError(
                f"{where} must be a non-empty dict of field name -> {{'type': ...}}, got "
                f"{type(spec).__name__}. Fix: declare e.g. SCHEMA = "
                "{'date': {'type': 'date'}}"
            )
        fields = []
        for name, raw in spec.items():
            at = f"{where} field {name!r}"
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise SchemaError(f"{at}: a field name is letters, digits and '_'. Fix: rename it")
            if name.lower() in RESERVED_COLUMNS:
                raise SchemaError(
                    f"{at}: 'scope' is reserved (every request names its scope). Fix: rename it"
                )
            if isinstance(raw, str):
                raw = {"type": raw}
            if not isinstance(raw, Mapping):
                raise SchemaError(f"{at}: must be a dict like {{'type': 'number'}}")
            unknown = set(raw) - FIELD_KEYS
            if unknown:
                raise SchemaError(
                    f"{at}: unknown key(s) {', '.join(sorted(unknown))}. Fix: use only "
                    f"{', '.join(sorted(FIELD_KEYS))}"
                )
            ftype = raw.get("type")
            if ftype not in FIELD_TYPES:
                raise SchemaError(
                    f"{at}: type {ftype!r} is unknown. Fix: use one of {', '.join(FIELD_TYPES)}"
                )
            required = raw.get("required", True)
            if not isinstance(required, bool):
                raise SchemaError(f"{at}: 'required' must be true or false")
            lo, hi, values = raw.get("min"), raw.get("max"), raw.get("values")
            if ftype == "category":
                if lo is not None or hi is not None:
                    raise SchemaError(f"{at}: a category has 'values', not min/max")
                if (
                    not isinstance(values, list | tuple)
                    or not values
                    or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values)
                    or len(set(values)) != len(values)
                ):
                    raise SchemaError(
                        f"{at}: a category needs 'values', a non-empty list of distinct strings "
                        "or integers. Fix: e.g. 'values': ['clear', 'rain']"
                    )
                values = tuple(values)
            elif values is not None:
                raise SchemaError(f"{at}: only a category has 'values'")
            if ftype == "date":
                lo = _parse_bound_date(lo, DATE_MIN, at, "min")
                hi = _parse_bound_date(hi, DATE_MAX, at, "max")
            else:
                for key, bound in (("min", lo), ("max", hi)):
                    if bound is not None and (
                        isinstance(bound, bool) or not isinstance(bound, int | float)
                    ):
                        raise SchemaError(f"{at}: '{key}' must be a number, got {bound!r}")
            if lo is not None and hi is not None and lo > hi:
                raise SchemaError(f"{at}: min {lo} is above max {hi}. Fix: swap them")
            fields.append(
                Field(
                    name=name,
                    type=ftype,
                    required=required,
                    min=lo,
                    max=hi,
                    values=values or (),
                    description=str(raw.get("description", "")),
                )
            )
        return cls(fields)

    def describe(self) -> dict:
        return {f.name: f.describe() for f in self.fields}

    def validate(self, instance: Any, where: str = "") -> dict:
        """The instance's field values, coerced (a missing optional field is None).

        Keys other than the fields and ``scope`` are refused, so a misspelt optional field
        is an error, not a silent default."""
        if not isinstance(instance, Mapping):
            raise ValidationError(
                "(instance)", _MISSING, "an object with " + ", ".join(self.names),
                f"is a {type(instance).__name__}", where,
            )  # fmt: skip
        row = {}
        for f in self.fields:
            value = instance.get(f.name)
            if value is None:
                if f.required:
                    raise ValidationError(f.name, _MISSING, f.expected(), "is missing", where)
                row[f.name] = None
                continue
            row[f.name] = f.coerce(value, where)
        extra = [k for k in instance if k not in self._by_name and k not in RESERVED_COLUMNS]
        if extra:
            raise ValidationError(
                str(extra[0]), instance[extra[0]], "only the fields " + ", ".join(self.names),
                "is not a field of this model", where,
            )  # fmt: skip
        return row

    def frame(self, rows: Sequence[Mapping[str, Any]]):
        """A pandas DataFrame of validated rows, one column per field, typed (numpy
        arrays, built once: this is on every request's path)."""
        import numpy as np
        import pandas as pd

        data = {}
        for f in self.fields:
            values = [r[f.name] for r in rows]
            if f.type == "number":
                data[f.name] = np.array(values, dtype=float)  # None -> NaN
            elif f.type == "integer":
                data[f.name] = (
                    pd.array(values, dtype="Int64")
                    if None in values
                    else np.array(values, dtype=np.int64)
                )
            elif f.type == "date":
                data[f.name] = np.array(values, dtype="datetime64[ns]")  # None -> NaT
            else:
                data[f.name] = np.array(values, dtype=object)
        return pd.DataFrame(data, copy=False)

    def clean_frame(self, pdf, target: str | None = None):
        """Training rows: (valid DataFrame, count of invalid rows, first problem or "").

        A row is invalid when a required field (or the target) is missing, or a value
        breaks its field's type, bounds or allowed values."""
        import numpy as np
        import pandas as pd

        ok = np.ones(len(pdf), dtype=bool)
        problem = ""
        out = {}
        for f in self.fields:
            col = pdf[f.name] if f.name in pdf.columns else pd.Series([None] * len(pdf))
            col = col.reset_index(drop=True)
            missing = col.isna().to_numpy()
            if f.type in ("number", "integer"):
                num = pd.to_numeric(col, errors="coerce").astype("float64")
                bad = num.isna().to_numpy() & ~missing
                bad |= ~np.isfinite(num.fillna(0).to_numpy())
                if f.type == "integer":
                    bad |= (num.fillna(0) % 1 != 0).to_numpy()
                if f.min is not None:
                    bad |= (num < f.min).to_numpy()
                if f.max is not None:
                    bad |= (num > f.max).to_numpy()
                out[f.name] = num
            elif f.type == "date":
                day = pd.to_datetime(col, errors="coerce")
                bad = day.isna().to_numpy() & ~missing
                bad |= ((day < pd.Timestamp(f.min)) | (day > pd.Timestamp(f.max))).to_numpy()
                out[f.name] = day
            elif f.type == "category":
                allowed = {str(v): v for v in f.values}
                mapped = col.map(
                    lambda v, allowed=allowed: (
                        allowed.get(str(v).strip()) if v is not None else None
                    )
                )
                bad = mapped.isna().to_numpy() & ~missing
                out[f.name] = mapped
            else:
                text = col.astype(object)
                lengths = text.map(lambda v: len(v) if isinstance(v, str) else 0)
                bad = np.zeros(len(col), dtype=bool)
                if f.min is not None:
                    bad |= ((lengths < f.min) & ~missing).to_numpy()
                if f.max is not None:
                    bad |= ((lengths > f.max) & ~missing).to_numpy()
                out[f.name] = text
            if f.required:
                bad |= missing
            if bad.any() and not problem:
                i = int(np.argmax(bad))
                problem = f"field '{f.name}' value {_show(col.iloc[i])}: expected {f.expected()}"
            ok &= ~bad
        if target is not None:
            y = pd.to_numeric(pdf[target].reset_index(drop=True), errors="coerce")
            bad = y.isna().to_numpy() | ~np.isfinite(y.fillna(0).to_numpy())
            if bad.any() and not problem:
                problem = f"target '{target}' missing or not a number"
            ok &= ~bad
            out[target] = y.astype("float64")
        frame = pd.DataFrame(out)[ok].reset_index(drop=True)
        for f in self.fields:
            if f.type == "integer" and not frame[f.name].isna().any():
                frame[f.name] = frame[f.name].astype("int64")
        return frame, int((~ok).sum()), problem


def _parse_bound_date(value: Any, default: date, at: str, key: str) -> date:
    if value is None:
        return default
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise SchemaError(f"{at}: '{key}' {value!r} is not a date YYYY-MM-DD") from None


# ------------------------------------------------------------------------ the package


@dataclass(frozen=True)
class Model:
    """A loaded model package, wrapped: the platform calls fit and predict through it."""

    name: str
    module: Any
    schema: Schema
    target: str
    scope_column: str
    params: Mapping[str, Any]
    training: Mapping[str, Any]
    example: Mapping[str, Any]
    description: str
    summary: tuple = ()  # metric names summarised over the scopes (empty: every one)
    gate: Any = None  # versions.Gate: what judges a new version against production

    def run_params(self, overrides: Mapping[str, str] | None = None) -> dict:
        """PARAMS with ``overrides`` (strings from a command line) converted to each
        default's type; ContractError naming an unknown one and the known ones."""
        params = dict(self.params)
        for key, raw in (overrides or {}).items():
            if key not in params:
                known = ", ".join(sorted(params)) or "none"
                raise ContractError(
                    f"model '{self.name}' has no parameter {key!r}. Fix: use one of: {known}"
                )
            default = params[key]
            try:
                if isinstance(default, bool):
                    if str(raw).lower() not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError(raw)
                    params[key] = str(raw).lower() in ("true", "1", "yes")
                elif isinstance(default, int):
                    params[key] = int(raw)
                elif isinstance(default, float):
                    params[key] = float(raw)
                else:
                    params[key] = raw
            except ValueError:
                raise ContractError(
                    f"model '{self.name}' parameter {key}={raw!r} is not a "
                    f"{type(default).__name__} like its default {default!r}"
                ) from None
        return params

    def fit_scope(self, rows, params: Mapping[str, Any]) -> tuple[Any, dict]:
        """Call the package's fit on one scope's valid rows; check what it returns."""
        result = self.module.fit(rows, dict(params))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise ContractError(
                f"model '{self.name}': fit must return (fitted, metrics), got "
                f"{type(result).__name__}"
            )
        fitted, metrics = result
        if not isinstance(metrics, Mapping):
            raise ContractError(
                f"model '{self.name}': fit's metrics must be a dict, got {type(metrics).__name__}"
            )
        return fitted, dict(metrics)

    def predict_rows(self, fitted: Any, rows: Sequence[Mapping[str, Any]]) -> list:
        """Predictions for validated rows, as JSON values (non-finite numbers -> None)."""
        values = self.module.predict(fitted, self.schema.frame(rows))
        values = list(values.tolist() if hasattr(values, "tolist") else values)
        if len(values) != len(rows):
            raise ContractError(
                f"model '{self.name}': predict returned {len(values)} values for {len(rows)} rows"
            )
        out = []
        for v in values:
            if hasattr(v, "item"):
                v = v.item()
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            out.append(v)
        return out

    def describe(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "input": self.schema.describe(),
            "target": self.target,
            "example": dict(self.example),
        }


def wrap(module: Any, name: str | None = None) -> Model:
    """Check an imported package against the contract and wrap it; ContractError if not."""
    name = name or module.__name__
    where = f"model '{name}'"
    if not MODEL_NAME_RE.match(name):
        raise ContractError(
            f"{where}: a model name is lower-case letters, digits and '_', starting with a "
            "letter. Fix: rename its folder"
        )
    if not hasattr(module, "SCHEMA"):
        raise ContractError(
            f"{where}: no SCHEMA. Fix: declare SCHEMA = {{'field': {{'type': ...}}}}"
        )
    schema = Schema.parse(module.SCHEMA, name)
    for func, signature in (("fit", "fit(rows, params)"), ("predict", "predict(fitted, rows)")):
        if not callable(getattr(module, func, None)):
            raise ContractError(f"{where}: no function {func}. Fix: define {signature}")
    target = getattr(module, "TARGET", None)
    if not isinstance(target, str) or not target or target in schema.names:
        raise ContractError(
            f"{where}: TARGET must name the training data's column to learn (not an input "
            f"field), got {target!r}. Fix: e.g. TARGET = 'sales'"
        )
    scope_column = getattr(module, "SCOPE_COLUMN", "scope")
    if not isinstance(scope_column, str) or scope_column in schema.names or scope_column == target:
        raise ContractError(f"{where}: SCOPE_COLUMN {scope_column!r} must be a column of its own")
    params = getattr(module, "PARAMS", {})
    if not isinstance(params, Mapping) or not all(
        isinstance(v, bool | int | float | str) for v in params.values()
    ):
        raise ContractError(
            f"{where}: PARAMS must be a dict of name -> number, string or bool defaults"
        )
    training = getattr(module, "TRAINING", {})
    allowed = {"source", "scopes", "start", "end", "scope_type"}
    if not isinstance(training, Mapping) or set(training) - allowed:
        raise ContractError(
            f"{where}: TRAINING must be a dict with keys among {', '.join(sorted(allowed))}"
        )
    example = getattr(module, "EXAMPLE", None)
    if not isinstance(example, Mapping) or "scope" not in example:
        raise ContractError(
            f"{where}: EXAMPLE must be one request instance with 'scope' and the input "
            "fields. Fix: e.g. EXAMPLE = {'scope': '1', 'date': '2025-01-31'}"
        )
    try:
        schema.validate(example)
    except ValidationError as exc:
        raise ContractError(f"{where}: EXAMPLE breaks SCHEMA: {exc}") from None
    summary = getattr(module, "SUMMARY", ())
    if not isinstance(summary, list | tuple) or not all(isinstance(m, str) for m in summary):
        raise ContractError(f"{where}: SUMMARY must be a list of metric names")
    gate = getattr(module, "GATE", None)
    if gate is not None:
        from .versions import Gate

        try:
            gate = Gate.parse(gate, where)
        except ValueError as exc:
            raise ContractError(str(exc)) from None
    return Model(
        gate=gate,
        summary=tuple(summary),
        name=name,
        module=module,
        schema=schema,
        target=target,
        scope_column=scope_column,
        params=dict(params),
        training=dict(training),
        example=dict(example),
        description=str(getattr(module, "DESCRIPTION", "") or (module.__doc__ or "")).strip(),
    )


def load(name: str) -> Model:
    """Import the model package ``name`` (from sys.path) and wrap it."""
    if not MODEL_NAME_RE.match(name or ""):
        raise ContractError(f"{name!r} is not a model name (lower-case letters, digits, '_')")
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            raise ContractError(
                f"model '{name}' is not installed here. Fix: add its folder to the models "
                "directory and its name to platform_models, then redeploy (site.yml)"
            ) from None
        raise ContractError(
            f"model '{name}' imports '{exc.name}', which is not installed. Fix: pin it in "
            f"{name}/requirements.txt"
        ) from None
    return wrap(module, name)


# ------------------------------------------------------------ requirements and manifest


def read_pins(path: Path, model: str = "") -> dict[str, str]:
    """{normalised name: version} of a requirements file; ContractError on an unpinned line."""
    pins: dict[str, str] = {}
    if not path.exists():
        return pins
    for number, line in enumerate(path.read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        m = PIN_RE.match(text)
        if not m:
            who = f"model '{model}': " if model else ""
            raise ContractError(
                f"{who}{path.name} line {number} {text!r} is not pinned. Fix: pin it exactly, "
                "name==version (and pin its dependencies too: the images build offline)"
            )
        pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(3)
    return pins


def check_package(models_dir: Path, name: str, platform_pins: Mapping[str, str]) -> Model:
    """Everything the platform needs of models_dir/name; ContractError naming the fix."""
    folder = Path(models_dir) / name
    if not (folder / "__init__.py").is_file():
        raise ContractError(
            f"model '{name}': no package at {folder} (no __init__.py). Fix: create "
            f"{folder}/__init__.py, or correct platform_models / platform_models_dir"
        )
    pins = read_pins(folder / "requirements.txt", name)
    for pkg, version in pins.items():
        if pkg in platform_pins and platform_pins[pkg] != version:
            raise ContractError(
                f"model '{name}': requirements.txt pins {pkg}=={version} but the platform pins "
                f"{pkg}=={platform_pins[pkg]}. Fix: use {pkg}=={platform_pins[pkg]} (every "
                "model and the platform share one environment)"
            )
    if str(models_dir) not in sys.path:
        sys.path.insert(0, str(models_dir))
    return load(name)


def write_manifest(folder: Path, names: Sequence[str]) -> None:
    (Path(folder) / MANIFEST).write_text(
        json.dumps({"models": list(names), "default": names[0] if names else None}) + "\n"
    )


def read_manifest(folder: str | Path = DEFAULT_MODELS_PATH) -> dict:
    """{"models": [...], "default": name} of the models baked into this image."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return {"models": [], "default": None}
    return json.loads(path.read_text())


def check_key(models_dir: Path, names: Sequence[str], platform_requirements: Sequence[str]) -> str:
    """What a check's answer depends on: every file of the models folder, the platform's
    pins, this package's own code, and the Python that imports them (its interpreter, and
    its site-packages, which a package installed or removed touches)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([list(names), str(models_dir), sys.executable, sys.version]).encode())
    sources = [Path(models_dir), Path(__file__).parent, *map(Path, platform_requirements)]
    for source in sources:
        files = sorted(source.rglob("*")) if source.is_dir() else [source]
        for path in files:
            parts = path.relative_to(source).parts if source.is_dir() else ()
            if path.is_file() and not any(p == "__pycache__" or p.startswith(".") for p in parts):
                digest.update(f"{path}\0".encode() + path.read_bytes())
    for folder in sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}):
        digest.update(f"{folder} {os.stat(folder).st_mtime_ns}".encode())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    """``check --models-dir DIR [--platform-requirements F ...] [--cache FILE] NAME ...``:
    exit 0 and a JSON summary, or 2 and one line per broken model. With ``--cache``, a
    check that passed is not run again (importing the models takes a second or more)
    until something it depends on changes (``check_key``)."""
    parser = argparse.ArgumentParser(prog="python -m modelstore.contract")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="check model packages against the contract")
    check.add_argument("--models-dir", required=True)
    check.add_argument("--platform-requirements", action="append", default=[])
    check.add_argument("--cache", type=Path, help="remember a passed check here, by content")
    check.add_argument("models", nargs="+")
    args = parser.parse_args(argv)
    models_dir = Path(args.models_dir).resolve()
    if not models_dir.is_dir():
        print(
            f"models directory {models_dir} does not exist. Fix: set platform_models_dir to "
            "the folder holding your model packages",
            file=sys.stderr,
        )
        return 2
    key = check_key(models_dir, args.models, args.platform_requirements) if args.cache else ""
    try:
        cached = json.loads(args.cache.read_text()) if key else {}
    except (OSError, ValueError):  # none yet, or unreadable: check again and rewrite it
        cached = {}
    if key and isinstance(cached, dict) and cached.get("key") == key and "summary" in cached:
        print(json.dumps(cached["summary"]))
        return 0
    platform_pins: dict[str, str] = {}
    for req in args.platform_requirements:
        platform_pins.update(read_pins(Path(req)))
    problems, summary = [], {}
    if len(set(args.models)) != len(args.models):
        problems.append("platform_models lists a model twice. Fix: list each name once")
    for name in args.models:
        try:
            model = check_package(models_dir, name, platform_pins)
            summary[name] = {"fields": list(model.schema.names), "target": model.target}
        except ContractError as exc:
            problems.append(str(exc))
        except Exception as exc:  # the package's own import failed
            problems.append(
                f"model '{name}': importing it failed: {type(exc).__name__}: {exc}. Fix the "
                "package so that `import " + name + "` works"
            )
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 2
    if key:
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        # written beside, then renamed: a check running at the same time reads all or none
        partial = args.cache.with_name(f"{args.cache.name}.{os.getpid()}")
        partial.write_text(json.dumps({"key": key, "summary": summary}) + "\n")
        partial.replace(args.cache)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
