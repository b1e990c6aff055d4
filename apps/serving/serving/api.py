"""Endpoints: GET /health, GET /models, GET /models/NAME, POST /models/NAME/predict and
POST /predict (the default model); GET /metrics is metrics.py's.

A request is checked in this order, and the first problem answers: the body is JSON (400),
the model exists (404), every instance passes the model's schema (422, naming the field,
the value and what was expected), a version is loaded (404, or 503 while the store is
down), the scopes exist (404; 503 with Retry-After when a scope is not cached on this
host and the store is down). Nothing a client sends reaches the model unvalidated.

GET /models/NAME lists the scopes a page at a time (``?after=SCOPE&limit=N``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

from flask import Blueprint, abort, current_app, jsonify, request, url_for
from modelstore.contract import Model, ValidationError

from . import metrics
from .errors import error_response
from .predlog import PredictionLog
from .registry import (
    RETRY_AFTER_SECONDS,
    LoadedVersion,
    ModelRegistry,
    ScopeNotFound,
    ScopesUnavailable,
    VersionNotServed,
)
from .routing import CANDIDATE, PRODUCTION, Routing, Shadow, disagreement

shadow_log = logging.getLogger("serving.shadow")

SCOPE_PAGE = 100  # scopes per page of GET /models/NAME (?limit= up to SCOPE_PAGE_MAX)
SCOPE_PAGE_MAX = 1000

bp = Blueprint("api", __name__)


class RequestError(Exception):
    def __init__(self, status: int, message: str, retry_after: int | None = None, **detail):
        super().__init__(message)
        self.status, self.message, self.detail = status, message, detail
        self.retry_after = retry_after

    def response(self):
        response = error_response(self.status, self.message, **self.detail)
        if self.retry_after is not None:
            response.headers["Retry-After"] = str(self.retry_after)
        return response


def _registry() -> ModelRegistry:
    return current_app.extensions["model_registry"]


def _models() -> dict[str, Model]:
    return current_app.extensions["models"]


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
    default = registry.version(current_app.config["DEFAULT_MODEL"])
    body = {
        "status": "ok" if ok else "unavailable",
        "model_version": default.id if default else None,
        "models": {name: v.id for name, v in sorted(registry.versions.items())},
        "backend": _backend(),
    }
    if not ok:
        body["reason"] = reason
    return jsonify(body), 200 if ok else 503


def _summary(name: str) -> dict:
    version = _registry().version(name)
    return {
        "name": name,
        "version": version.id if version else None,
        "created": version.created.isoformat() if version and version.created else None,
        "scope_count": version.scope_count if version else 0,
        "metrics": version.metrics if version else {},
        "url": url_for("api.model", name=name),
    }


@bp.get("/models")
def models():
    registry = _registry()
    if not registry.versions and not registry.store_ok:
        abort(503, description=f"no model version loaded yet: {registry.health()[1]}")
    body = {
        "default": current_app.config["DEFAULT_MODEL"],
        "models": [_summary(name) for name in _models()],
        "backend": _backend(),
    }
    if registry.not_installed:
        body["not_installed"] = list(registry.not_installed)
    return jsonify(body)


def _model_or_404(name: str, models: dict[str, Model] | None = None,
                  registry: ModelRegistry | None = None) -> Model:  # fmt: skip
    models = _models() if models is None else models
    model = models.get(name)
    if model is None:
        registry = _registry() if registry is None else registry
        extra = (
            " (it is published, but this back-end's image does not carry its package: add "
            "it to platform_models and redeploy)"
            if name in registry.not_installed
            else ""
        )
        raise RequestError(
            404,
            f"unknown model {name!r}{extra}; this back-end serves "
            f"{', '.join(models) or 'no model'} (GET /models)",
        )
    return model


def _version_or_error(model: Model, registry: ModelRegistry) -> LoadedVersion:
    version = registry.version(model.name)
    if version is not None:
        return version
    if not registry.store_ok:
        raise RequestError(
            503,
            f"no version of model {model.name!r} loaded yet: {registry.health()[1]}",
            retry_after=RETRY_AFTER_SECONDS,
        )
    raise RequestError(
        404,
        f"model {model.name!r} has no published version yet: train it "
        f"(ansible-playbook playbooks/train.yml -e train_model={model.name})",
    )


def _page_args() -> tuple[str | None, int]:
    after = request.args.get("after") or None
    raw = request.args.get("limit", str(SCOPE_PAGE))
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= SCOPE_PAGE_MAX:
        raise RequestError(
            400, f"limit={raw!r}: give a number of scopes from 1 to {SCOPE_PAGE_MAX}"
        )
    return after, limit


@bp.get("/models/<name>")
def model(name: str):
    """The model's contract and current version, and one page of its scopes (with their
    metrics): ``?after=SCOPE&limit=N``; ``next`` is the URL of the following page."""
    try:
        found = _model_or_404(name)
        after, limit = _page_args()
        version = _registry().version(name)
        page = _registry().scope_page(version, after, limit) if version else []
    except RequestError as exc:
        return exc.response()
    except ScopesUnavailable as exc:
        return RequestError(503, str(exc), retry_after=exc.retry_after).response()
    body = found.describe()
    example = {"url": url_for("api.model_predict", name=name), "body": dict(found.example)}
    scopes = [scope for scope, _ in page]
    if scopes and str(found.example["scope"]) not in scopes and after is None:
        example["body"]["scope"] = scopes[0]
    body.update(
        {
            "version": version.id if version else None,
            "created": version.created.isoformat() if version and version.created else None,
            "loaded_at": version.loaded_at.isoformat() if version else None,
            "scope_count": version.scope_count if version else 0,
            "scopes": scopes,
            "scope_metrics": dict(page),
            "next": url_for("api.model", name=name, after=scopes[-1], limit=limit)
            if len(scopes) == limit
            else None,
            "metrics": version.metrics if version else {},
            "params": version.params if version else {},
            "example_request": example,
            "backend": _backend(),
        }
    )
    return jsonify(body)


def _json_body(model: Model, raw: bytes) -> dict:
    example = json.dumps(model.example)
    if not raw or not raw.strip():
        raise RequestError(400, f"empty request body: send JSON like {example}")
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RequestError(400, f"malformed JSON: {str(exc)[:200]}") from None
    if not isinstance(payload, dict):
        raise RequestError(
            400,
            f"the JSON body must be an object: one instance like {example} or "
            '{"instances": [...]}',
        )
    return payload


def _parse_instance(model: Model, item, where: str) -> tuple[str, dict]:
    """(scope, validated row) of one instance; RequestError naming the problem.

    Needs no loaded version: a malformed request is a 4xx whether or not one is loaded."""
    prefix = f"{where}: " if where else ""
    if not isinstance(item, dict):
        raise RequestError(422, f"{prefix}an instance must be an object with scope and "
                           + ", ".join(model.schema.names))  # fmt: skip
    scope = item.get("scope")
    if scope is None:
        raise RequestError(
            422, f"{prefix}missing field 'scope' (string or integer)", field="scope",
            expected="a string or an integer",
        )  # fmt: skip
    if isinstance(scope, bool) or not isinstance(scope, str | int):
        raise RequestError(
            422, f"{prefix}'scope' must be a string or an integer, not {type(scope).__name__}",
            field="scope", expected="a string or an integer",
        )  # fmt: skip
    try:
        row = model.schema.validate(item, where)
    except ValidationError as exc:
        raise RequestError(422, str(exc), **exc.to_dict()) from None
    return str(scope).strip(), row


def _predict(model: Model, registry: ModelRegistry, version: LoadedVersion,
             parsed: list[tuple[str, dict]], batch: bool) -> list:  # fmt: skip
    """Predictions in the order of the instances, one model call per scope, every scope
    of one version."""
    by_scope: dict[str, list[int]] = {}
    for index, (scope, _) in enumerate(parsed):
        by_scope.setdefault(scope, []).append(index)
    try:
        fitted = registry.fitted(version, list(by_scope))
    except ScopeNotFound as exc:
        scope = exc.scopes[0]
        prefix = f"instances[{by_scope[scope][0]}]: " if batch else ""
        raise RequestError(
            404,
            f"{prefix}unknown scope {scope!r}: model {version.model!r} version "
            f"{version.id} has {version.scope_count} scopes "
            f"(GET /models/{version.model} lists them)",
        ) from None
    except ScopesUnavailable as exc:
        raise RequestError(503, str(exc), retry_after=exc.retry_after) from None
    out: list = [None] * len(parsed)
    for scope, indexes in by_scope.items():
        values = model.predict_rows(fitted[scope], [parsed[i][1] for i in indexes])
        for i, value in zip(indexes, values, strict=True):
            out[i] = value
    return out


@dataclass(frozen=True)
class Service:
    """What answering a predict request needs (built once per worker by create_app)."""

    models: dict[str, Model]
    registry: ModelRegistry
    max_batch: int
    routing: Routing = Routing()
    shadow: Shadow = field(default_factory=Shadow)
    predlog: PredictionLog | None = None


def asked_for(alias: str | None, version: str | None) -> tuple[str | None, int | None]:
    """The alias or version a request asks for (?alias=, ?version= or the X-Model-Alias,
    X-Model-Version headers); RequestError 400 when malformed."""
    alias = (alias or "").strip() or None
    version = (version or "").strip() or None
    if alias and version:
        raise RequestError(400, "ask for an alias or a version, not both")
    if version is None:
        return alias, None
    if not version.isdigit() or int(version) < 1:
        raise RequestError(400, f"version={version!r}: give a version number (GET /models/NAME)")
    return None, int(version)


def _pick(service: Service, model: Model, parsed, alias: str | None, number: int | None
          ) -> tuple[LoadedVersion, str]:  # fmt: skip
    """(version, alias label) that answers: the one asked for, the canary's, production."""
    registry = service.registry
    if alias is not None or number is not None:
        try:
            found = registry.resolve(model.name, alias, number)
        except VersionNotServed as exc:
            raise RequestError(404, str(exc)) from None
        except ScopesUnavailable as exc:
            raise RequestError(503, str(exc), retry_after=exc.retry_after) from None
        if found is None:  # production asked for, none loaded yet
            found = _version_or_error(model, registry)
        return found, alias or ""
    production = _version_or_error(model, registry)
    candidate = registry.aliases(model.name).get(CANDIDATE)
    if (
        candidate is not None
        and candidate.id != production.id
        and service.routing.to_candidate(parsed[0][0])
    ):
        return candidate, CANDIDATE
    return production, PRODUCTION


def _shadow(service: Service, model: Model, parsed, batch: bool, answered: list) -> None:
    """Compute the candidate beside production in the background (never returned)."""
    registry = service.registry
    candidate = registry.aliases(model.name).get(CANDIDATE)
    if candidate is None:
        return

    def job():
        try:
            values = _predict(model, registry, candidate, parsed, batch)
        except RequestError:
            metrics.SHADOW_ERRORS.labels(model.name).inc()
            return
        numeric, diff, mismatches = disagreement(answered, values)
        metrics.observe_shadow(model.name, candidate.id, len(values), numeric, diff, mismatches)
        if (diff or mismatches) and service.shadow.should_log():
            shadow_log.info(
                "shadow: model %s candidate %s answered %s where production answered %s "
                "(scope %s)", model.name, candidate.id, values[:3], answered[:3], parsed[0][0],
            )  # fmt: skip

    if not service.shadow.submit(job):
        metrics.SHADOW_SKIPPED.labels(model.name).inc()


def answer(service: Service, name: str, raw: bytes, asked: tuple[str | None, int | None]
           = (None, None)) -> dict:  # fmt: skip
    """The answer to a predict request for model ``name`` whose body is ``raw`` (without
    its "backend" field), by the version ``asked`` for (alias, number) or routing's;
    RequestError for anything a client must fix or retry. Needs no request context: the
    Flask views and the WSGI fast path (fastpath.py) both call it."""
    started = time.perf_counter()
    found = _model_or_404(name, service.models, service.registry)
    payload = _json_body(found, raw)
    batch = "instances" in payload
    if batch:
        items = payload["instances"]
        if not isinstance(items, list):
            raise RequestError(422, "'instances' must be a list of instance objects")
        if not items:
            raise RequestError(422, "'instances' is empty: give at least one instance")
        if len(items) > service.max_batch:
            limit = service.max_batch
            raise RequestError(
                413, f"{len(items)} instances is more than the limit of {limit} per request"
            )
        parsed = [_parse_instance(found, item, f"instances[{i}]") for i, item in enumerate(items)]
    else:
        parsed = [_parse_instance(found, payload, "")]
    version, alias = _pick(service, found, parsed, *asked)
    try:
        predictions = _predict(found, service.registry, version, parsed, batch)
    except RequestError as exc:
        metrics.observe_version(name, alias, version.id, exc.status,
                                time.perf_counter() - started)  # fmt: skip
        raise
    metrics.observe_version(name, alias, version.id, 200, time.perf_counter() - started)
    if service.predlog is not None and service.predlog.sampled():
        service.predlog.add(name, version.id, alias, parsed, predictions)
    if service.routing.shadow and alias == PRODUCTION:
        _shadow(service, found, parsed, batch, predictions)
    body = {"model": name, "model_version": version.id, "alias": alias or None}
    if batch:
        body["predictions"] = predictions
    else:
        body.update({"prediction": predictions[0], "scope": parsed[0][0], "input": parsed[0][1]})
    return body


def _predict_response(name: str):
    try:
        args, headers = request.args, request.headers
        asked = asked_for(args.get("alias") or headers.get("X-Model-Alias"),
                          args.get("version") or headers.get("X-Model-Version"))  # fmt: skip
        raw = request.get_data(cache=False)
        body = answer(current_app.extensions["serving"], name, raw, asked)
    except RequestError as exc:
        return exc.response()
    body["backend"] = _backend()
    return jsonify(body)


@bp.post("/models/<name>/predict")
def model_predict(name: str):
    return _predict_response(name)


@bp.post("/predict")
def predict():
    return _predict_response(current_app.config["DEFAULT_MODEL"])
