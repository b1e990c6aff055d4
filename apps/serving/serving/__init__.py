"""Online serving of every installed model, per scope (Flask app factory)."""

from __future__ import annotations

import logging
import os
import socket
import sys

from flask import Flask
from modelstore import contract

from .cache import DiskCache
from .fastpath import FastPredict
from .predlog import PredictionLog
from .registry import ModelRegistry
from .routing import Routing

DEFAULT_BIND = "0.0.0.0:8000"
MB = 1024 * 1024


def default_backend_id() -> str:
    """``hostname:port``, the port taken from SERVING_BIND (default 8000)."""
    bind = os.environ.get("SERVING_BIND", DEFAULT_BIND).split(",")[0].strip()
    port = bind.rsplit(":", 1)[1] if ":" in bind and not bind.startswith("unix:") else ""
    host = socket.gethostname()
    return f"{host}:{port}" if port.isdigit() else host


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"{name}={raw!r} must be greater than 0")
    return value


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None


def _configure_logging() -> None:
    logger = logging.getLogger("serving")
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(os.environ.get("SERVING_LOG_LEVEL", "INFO").upper())


def create_app(test_config: dict | None = None) -> Flask:
    """The app. Configuration comes from the environment (MODEL_STORE_DSN,
    SERVING_BACKEND_ID, SERVING_RELOAD_SECONDS) and the image's model manifest
    (ANALYTICS_MODELS_PATH, /opt/models), overridden by ``test_config`` (MODELS: the
    names of the model packages to serve, DEFAULT_MODEL: the one of POST /predict)."""
    _configure_logging()
    app = Flask(__name__)
    app.config.from_mapping(
        MODEL_STORE_DSN=os.environ.get("MODEL_STORE_DSN", ""),
        BACKEND_ID=os.environ.get("SERVING_BACKEND_ID", "") or default_backend_id(),
        RELOAD_SECONDS=_env_float("SERVING_RELOAD_SECONDS", 10.0),
        START_RELOADER=True,  # poll the store in a background thread
        MAX_BATCH=int(os.environ.get("SERVING_MAX_BATCH", "1000")),
        MAX_CONTENT_LENGTH=int(os.environ.get("SERVING_MAX_BODY_BYTES", str(1024 * 1024))),
        # Fitted scopes kept in each worker's memory (MB), the host's disk cache shared by
        # the back-ends (empty: none) and its size (MB), and how many of the old version's
        # hot scopes a new version loads before it serves (see registry.py).
        CACHE_MB=_env_float("SERVING_CACHE_MB", 256.0),
        CACHE_DIR=os.environ.get("SERVING_CACHE_DIR", ""),
        DISK_CACHE_MB=_env_float("SERVING_DISK_CACHE_MB", 1024.0),
        WARM_SCOPES=int(os.environ.get("SERVING_WARM_SCOPES", "1000")),
        # A sample of the answered requests written to the store's prediction log (0: off)
        # and the log's bound in rows (serving/predlog.py).
        PREDICTION_LOG_RATE=_env_number("SERVING_PREDICTION_LOG_RATE", 0.0),
        PREDICTION_LOG_ROWS=int(_env_number("SERVING_PREDICTION_LOG_ROWS", 1_000_000)),
        JSON_SORT_KEYS=False,
    )
    if test_config is not None:
        app.config.from_mapping(test_config)
    if "MODELS" not in app.config:
        manifest = contract.read_manifest(
            os.environ.get("ANALYTICS_MODELS_PATH", contract.DEFAULT_MODELS_PATH)
        )
        app.config["MODELS"] = manifest["models"]
        app.config.setdefault("DEFAULT_MODEL", manifest["default"])
    if not app.config["MODELS"]:
        raise RuntimeError(
            "no model package installed: the image's models manifest lists none. Fix: list "
            "models in platform_models and rebuild the images (site.yml --tags images)"
        )
    app.config.setdefault("DEFAULT_MODEL", app.config["MODELS"][0])
    app.json.sort_keys = False

    # A package that breaks the contract stops the back-end here, before it is healthy.
    app.extensions["models"] = {name: contract.load(name) for name in app.config["MODELS"]}
    from . import api, errors, metrics

    disk = (
        DiskCache(app.config["CACHE_DIR"], int(app.config["DISK_CACHE_MB"] * MB))
        if app.config["CACHE_DIR"]
        else None
    )
    registry = ModelRegistry(
        app.config["MODEL_STORE_DSN"],
        app.config["RELOAD_SECONDS"],
        app.config["MODELS"],
        on_refresh=metrics.record_registry,
        cache_bytes=int(app.config["CACHE_MB"] * MB),
        disk=disk,
        warm_scopes=app.config["WARM_SCOPES"],
        on_scopes=metrics.record_scopes,
    )
    app.extensions["model_registry"] = registry
    predlog = PredictionLog(app.config["MODEL_STORE_DSN"], app.config["PREDICTION_LOG_RATE"],
                            app.config["PREDICTION_LOG_ROWS"], app.config["BACKEND_ID"],
                            on_rows=metrics.record_prediction_log)  # fmt: skip
    app.extensions["serving"] = api.Service(
        app.extensions["models"], registry, app.config["MAX_BATCH"],
        app.config.get("ROUTING") or Routing.from_env(), predlog=predlog,
    )  # fmt: skip

    errors.register(app)
    metrics.register(app)
    app.register_blueprint(api.bp)
    app.wsgi_app = FastPredict(app)

    if app.config["START_RELOADER"]:
        # Load once before this worker takes a request: under gunicorn every worker builds
        # its own app, and one that answered before loading would return 503 while its
        # sibling already serves. refresh never raises; a store that is down is retried
        # by the thread.
        registry.refresh()
        registry.start()
    return app
