"""Endpoints: GET /health, GET /models, POST /predict."""

from __future__ import annotations

import json
import math
import re
from datetime import date

import numpy as np
from flask import Blueprint, abort, current_app, jsonify, request

from .errors import error_response
from .registry import LoadedVersion, ModelRegistry

bp = Blueprint("api", __name__)

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class InstanceError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _registry() -> ModelRegistry:
    return current_app.extensions["model_registry"]


def _backend() -> str:
    return current_app.config["BACKEND_ID"]


@bp.before_app_request
def _keep_reloader_alive():
    # A worker forked after create_app (gunicorn --preload) has no reloader thread.
    if current_app.config["START_RELOADER"]:
        _registry().ensure_running()


@bp.get("/health")
def health():
    registry = _registry()
    ok, reason = registry.health()
    version = registry.current
    body = {
        "status": "ok" if ok else "unavailable",
        "model_version": version.id if version else None,
        "backend": _backend(),
    }
    if not ok:
        body["reason"] = reason
    return jsonify(body), 200 if ok else 503


def _loaded_or_503() -> LoadedVersion:
    version = _registry().current
    if version is None:
        _, reason = _registry().health()
        abort(503, description=f"no model version loaded yet: {reason}")
    return version


@bp.get("/models")
def models():
    version = _loaded_or_503()
    return jsonify(
        {
            "model_version": version.id,
            "created": version.created.isoformat() if version.created else None,
            "loaded_at": version.loaded_at.isoformat(),
            "scope_type": version.params.get("scope_type"),
            "scope_count": len(version.models),
            "scopes": sorted(version.models, key=_scope_sort_key),
            "metrics": version.metrics,
            "scope_metrics": dict(version.scope_metrics),
            "params": version.params,
            "input": {"scope": "string or integer", "date": "YYYY-MM-DD"},
            "backend": _backend(),
        }
    )


def _scope_sort_key(scope: str):
    return (0, int(scope), "") if scope.isdigit() else (1, 0, scope)


def _json_body() -> dict:
    raw = request.get_data(cache=False)
    if not raw or not raw.strip():
        abort(
            400,
            description='empty request body: send JSON like {"scope": "1", "date": "2024-06-01"}',
        )
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        abort(400, description=f"malformed JSON: {exc}")
    if not isinstance(payload, dict):
        abort(
            400,
            description="the JSON body must be an object: "
            '{"scope": ..., "date": ...} or {"instances": [...]}',
        )
    return payload


def _parse_instance(item, where: str) -> tuple[str, str]:
    """(scope, date) of one instance, or InstanceError naming the problem.

    Needs no model: a malformed request is a 4xx whether or not a version is loaded."""
    prefix = f"{where}: " if where else ""
    if not isinstance(item, dict):
        raise InstanceError(422, f"{prefix}an instance must be an object with scope and date")
    if "scope" not in item or item["scope"] is None:
        raise InstanceError(422, f"{prefix}missing field 'scope' (string or integer)")
    scope = item["scope"]
    if isinstance(scope, bool) or not isinstance(scope, str | int):
        raise InstanceError(
            422, f"{prefix}'scope' must be a string or an integer, not {type(scope).__name__}"
        )
    scope = str(scope).strip()
    if "date" not in item or item["date"] is None:
        raise InstanceError(422, f"{prefix}missing field 'date' (YYYY-MM-DD)")
    day = item["date"]
    if not isinstance(day, str):
        raise InstanceError(
            422, f"{prefix}'date' must be a string YYYY-MM-DD, not {type(day).__name__}"
        )
    day = day.strip()
    try:
        if not _DATE_RE.match(day):
            raise ValueError(day)
        date.fromisoformat(day)
    except ValueError:
        raise InstanceError(
            422, f"{prefix}'date' {item['date']!r} is not a valid date YYYY-MM-DD"
        ) from None
    return scope, day


def _check_scopes(instances: list[tuple[str, str]], version: LoadedVersion, batch: bool) -> None:
    for i, (scope, _) in enumerate(instances):
        if scope not in version.models:
            prefix = f"instances[{i}]: " if batch else ""
            raise InstanceError(
                404,
                f"{prefix}unknown scope {scope!r}: model version {version.id} has "
                f"{len(version.models)} scopes (GET /models lists them)",
            )


def _predict(version: LoadedVersion, instances: list[tuple[str, str]]) -> list[float]:
    """Predictions in the order of ``instances``, one model call per scope."""
    out: list[float] = [0.0] * len(instances)
    by_scope: dict[str, list[int]] = {}
    for index, (scope, _) in enumerate(instances):
        by_scope.setdefault(scope, []).append(index)
    for scope, indexes in by_scope.items():
        dates = np.array([[instances[i][1]] for i in indexes], dtype=object)
        values = version.models[scope].predict(dates)
        for i, value in zip(indexes, np.asarray(values, dtype=float).ravel(), strict=True):
            out[i] = float(value) if math.isfinite(value) else None
    return out


@bp.post("/predict")
def predict():
    payload = _json_body()
    try:
        batch = "instances" in payload
        if batch:
            items = payload["instances"]
            if not isinstance(items, list):
                raise InstanceError(422, "'instances' must be a list of {scope, date} objects")
            if not items:
                raise InstanceError(422, "'instances' is empty: give at least one instance")
            limit = current_app.config["MAX_BATCH"]
            if len(items) > limit:
                raise InstanceError(
                    413, f"{len(items)} instances is more than the limit of {limit} per request"
                )
            parsed = [_parse_instance(item, f"instances[{i}]") for i, item in enumerate(items)]
        else:
            parsed = [_parse_instance(payload, "")]
        version = _loaded_or_503()
        _check_scopes(parsed, version, batch)
    except InstanceError as exc:
        return error_response(exc.status, exc.message)
    if batch:
        return jsonify(
            {
                "predictions": _predict(version, parsed),
                "model_version": version.id,
                "backend": _backend(),
            }
        )
    scope, day = parsed[0]
    return jsonify(
        {
            "prediction": _predict(version, parsed)[0],
            "scope": scope,
            "date": day,
            "model_version": version.id,
            "backend": _backend(),
        }
    )
