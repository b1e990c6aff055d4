"""The back-end's own Prometheus metrics, served at GET /metrics.

- ``serving_requests_total{model, endpoint, status}``: requests answered;
- ``serving_request_duration_seconds{model, endpoint}``: their latency (a histogram);
- ``serving_model_version{model}``: the version loaded per model, 0 while none is;
- ``serving_model_published_version{model}``: the newest version of each model in the
  store, as the back-end last saw it (0: none published); lower loaded than published
  for long is the ServingModelNotLoaded alert;
- ``serving_model_store_up``: 1 while the model store answers;
- ``serving_scope_loads_total{model, source}``: scopes a request needed, by where they were
  found: ``memory`` (this worker's cache), ``disk`` (the host's cache), ``store``, or
  ``missing`` (not in the version: a 404) and ``unavailable`` (not cached on the host
  while the store is down: a 503);
- ``serving_scope_evictions_total{model}``: scopes dropped from a worker's memory to stay
  within its budget;
- ``serving_version_requests_total{model, alias, version, status}`` and
  ``serving_version_request_duration_seconds{model, alias, version}``: predict requests by
  the version that answered them (``alias``: production, candidate, the alias asked for,
  or empty for a version asked for by number);
- ``serving_shadow_instances_total{model, version}``: instances the candidate computed in
  shadow; ``serving_shadow_abs_difference_total`` (the sum of the absolute differences
  of numeric answers; divided by ``serving_shadow_numeric_total``: the mean) and
  ``serving_shadow_mismatches_total`` (other answers that differ: labels);
  ``serving_shadow_skipped_total{model}`` (too many pending) and
  ``serving_shadow_errors_total{model}`` (the candidate failed: a scope it lacks);
- ``serving_prediction_log_rows_total{outcome}``: rows of the prediction log ``logged``
  to the store, ``dropped`` (the worker's queue full) or ``failed`` (the store refused);
- ``serving_scope_cache_bytes`` and ``serving_scope_cache_scopes``: what the workers'
  caches hold (summed over the live workers); ``serving_scope_cache_budget_bytes``.

``model`` is one of the installed models, or empty for an endpoint of no model; a name
that no installed model has counts as ``unknown``, so a client cannot grow the series.
``endpoint`` is the route (``/models/<name>/predict``), ``unmatched`` for any other path.

Under Gunicorn every worker is a process of its own: with PROMETHEUS_MULTIPROC_DIR set
(gunicorn.conf.py does) each one writes its figures there and GET /metrics, whichever
worker answers, sums the counters of all of them and takes the lowest gauge of the live
ones (a worker that has no version loaded yet shows 0).
"""

from __future__ import annotations

import os
import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("serving_requests_total", "Requests answered", ["model", "endpoint", "status"])
LATENCY = Histogram(
    "serving_request_duration_seconds", "Time to answer a request", ["model", "endpoint"]
)
MODEL_VERSION = Gauge(
    "serving_model_version",
    "Version of each model this back-end serves (0: none loaded yet)",
    ["model"],
    multiprocess_mode="livemin",
)
PUBLISHED_VERSION = Gauge(
    "serving_model_published_version",
    "Newest version of each model in the model store, at this back-end's last poll (0: none)",
    ["model"],
    multiprocess_mode="livemax",
)
STORE_UP = Gauge(
    "serving_model_store_up",
    "1 while the model store answers this back-end",
    multiprocess_mode="livemin",
)

SCOPE_LOADS = Counter(
    "serving_scope_loads_total", "Scopes requests needed, by where they were found",
    ["model", "source"],
)  # fmt: skip
SCOPE_EVICTIONS = Counter(
    "serving_scope_evictions_total", "Scopes dropped from a worker's cache (budget)", ["model"]
)
CACHE_BYTES = Gauge(
    "serving_scope_cache_bytes", "Bytes of fitted scopes in the workers' memory",
    multiprocess_mode="livesum",
)  # fmt: skip
CACHE_SCOPES = Gauge(
    "serving_scope_cache_scopes", "Fitted scopes in the workers' memory",
    multiprocess_mode="livesum",
)  # fmt: skip
CACHE_BUDGET = Gauge(
    "serving_scope_cache_budget_bytes", "The workers' cache budgets, summed",
    multiprocess_mode="livesum",
)  # fmt: skip

VERSION_REQUESTS = Counter(
    "serving_version_requests_total", "Predict requests by the version that answered",
    ["model", "alias", "version", "status"],
)  # fmt: skip
VERSION_LATENCY = Histogram(
    "serving_version_request_duration_seconds", "Time to answer a predict request, by version",
    ["model", "alias", "version"],
)  # fmt: skip
SHADOW_INSTANCES = Counter(
    "serving_shadow_instances_total", "Instances the candidate computed in shadow",
    ["model", "version"],
)  # fmt: skip
SHADOW_NUMERIC = Counter(
    "serving_shadow_numeric_total", "Numeric shadow answers compared", ["model", "version"]
)
SHADOW_ABS_DIFF = Counter(
    "serving_shadow_abs_difference_total",
    "Sum of |shadow - production| over numeric answers", ["model", "version"],
)  # fmt: skip
SHADOW_MISMATCHES = Counter(
    "serving_shadow_mismatches_total", "Non-numeric shadow answers that differ from production",
    ["model", "version"],
)  # fmt: skip
SHADOW_SKIPPED = Counter(
    "serving_shadow_skipped_total", "Shadow computations skipped (too many pending)", ["model"]
)
SHADOW_ERRORS = Counter(
    "serving_shadow_errors_total", "Shadow computations the candidate failed", ["model"]
)

PREDICTION_LOG_ROWS = Counter(
    "serving_prediction_log_rows_total", "Rows of the prediction log, by outcome", ["outcome"]
)

bp = Blueprint("metrics", __name__)


def record_registry(registry) -> None:
    """The registry's state as gauges: its on_refresh, called after every poll."""
    for name in registry.names:
        version = registry.version(name)
        MODEL_VERSION.labels(name).set(version.id if version else 0)
        PUBLISHED_VERSION.labels(name).set(registry.published(name))
    STORE_UP.set(1 if registry.store_ok else 0)
    _record_cache(registry.cache)


def _record_cache(cache) -> None:
    CACHE_BYTES.set(cache.bytes)
    CACHE_SCOPES.set(len(cache))
    CACHE_BUDGET.set(cache.budget)


def record_prediction_log(outcome: str, count: int) -> None:
    PREDICTION_LOG_ROWS.labels(outcome).inc(count)


def record_scopes(model: str, source: str, count: int) -> None:
    """The registry's on_scopes: where a request's scopes came from."""
    if source == "evicted":
        SCOPE_EVICTIONS.labels(model).inc(count)
    else:
        SCOPE_LOADS.labels(model, source).inc(count)


def observe_version(model: str, alias: str, version: int, status: int, seconds: float) -> None:
    """One predict request, by the version that answered it."""
    VERSION_REQUESTS.labels(model, alias, str(version), str(status)).inc()
    VERSION_LATENCY.labels(model, alias, str(version)).observe(seconds)


def observe_shadow(model: str, version: int, instances: int, numeric: int, diff: float,
                   mismatches: int) -> None:  # fmt: skip
    SHADOW_INSTANCES.labels(model, str(version)).inc(instances)
    SHADOW_NUMERIC.labels(model, str(version)).inc(numeric)
    SHADOW_ABS_DIFF.labels(model, str(version)).inc(diff)
    SHADOW_MISMATCHES.labels(model, str(version)).inc(mismatches)


def _model_label() -> str:
    if request.url_rule is None:
        return ""
    if request.endpoint == "api.predict":
        return current_app.config["DEFAULT_MODEL"]
    name = (request.view_args or {}).get("name")
    if name is None:
        return ""
    return name if name in current_app.extensions["models"] else "unknown"


def _start_timer() -> None:
    g.metrics_start = time.perf_counter()


def observe(model: str, endpoint: str, status: int, seconds: float | None) -> None:
    """One answered request (the Flask hook's and the fast path's)."""
    REQUESTS.labels(model, endpoint, str(status)).inc()
    if seconds is not None:
        LATENCY.labels(model, endpoint).observe(seconds)


def _observe(response):
    start = g.pop("metrics_start", None)
    endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
    seconds = time.perf_counter() - start if start is not None else None
    observe(_model_label(), endpoint, response.status_code, seconds)
    return response


@bp.get("/metrics")
def metrics():
    _record_cache(current_app.extensions["model_registry"].cache)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def register(app: Flask) -> None:
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.register_blueprint(bp)
