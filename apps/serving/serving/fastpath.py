"""The predict endpoints without Flask's request machinery (a WSGI middleware).

Profiled end to end, Flask's part of a single forecast (request context, URL matching,
hooks, the response object) cost about as much as the model's own work. This middleware
answers ``POST /predict`` and ``POST /models/NAME/predict`` itself, with the very
function the Flask views call (``api.answer``), the same JSON encoding, errors and
metrics. Anything else goes to the Flask app unchanged: other routes and methods, a body
without a Content-Length or over the size limit, and any unexpected exception (Flask
then answers as it would have, a JSON 500 with the traceback logged; that request's
scope loads are counted twice).
"""

from __future__ import annotations

import io
import time
from urllib.parse import parse_qs

from flask import Flask
from werkzeug.http import HTTP_STATUS_CODES

from . import api, metrics
from .errors import error_body

PREFIX, SUFFIX = "/models/", "/predict"
MODEL_RULE = "/models/<name>/predict"


class FastPredict:
    """``app.wsgi_app = FastPredict(app)``: the Flask docs' middleware pattern."""

    def __init__(self, app: Flask):
        self.inner = app.wsgi_app
        self.app = app
        self.models = app.extensions["models"]
        self.registry = app.extensions["model_registry"]
        self.service = app.extensions["serving"]
        self.config = app.config

    def _route(self, environ) -> tuple[str, str] | None:
        """(model name, metrics endpoint) of a predict request, None for anything else."""
        if environ.get("REQUEST_METHOD") != "POST":
            return None
        path = environ.get("PATH_INFO", "")
        if path == "/predict":
            return self.config["DEFAULT_MODEL"], "/predict"
        if path.startswith(PREFIX) and path.endswith(SUFFIX):
            name = path[len(PREFIX) : -len(SUFFIX)]
            if name in self.models:  # an unknown name: Flask's 404 (and its metrics label)
                return name, MODEL_RULE
        return None

    def __call__(self, environ, start_response):
        route = self._route(environ)
        length = environ.get("CONTENT_LENGTH", "")
        if (
            route is None
            or not length.isdigit()
            or int(length) > self.config["MAX_CONTENT_LENGTH"]
            or environ.get("HTTP_TRANSFER_ENCODING")
        ):
            return self.inner(environ, start_response)
        started = time.perf_counter()
        name, endpoint = route
        raw = environ["wsgi.input"].read(int(length))
        environ["wsgi.input"] = io.BytesIO(raw)  # for Flask, should it answer after all
        if self.config["START_RELOADER"]:
            self.registry.ensure_running()
        backend = self.config["BACKEND_ID"]
        headers = [("Content-Type", "application/json")]
        try:
            query = environ.get("QUERY_STRING")
            args = {k: v[0] for k, v in parse_qs(query).items()} if query else {}
            asked = api.asked_for(
                args.get("alias") or environ.get("HTTP_X_MODEL_ALIAS"),
                args.get("version") or environ.get("HTTP_X_MODEL_VERSION"),
            )
            body = api.answer(self.service, name, raw, asked)
            body["backend"] = backend
            status = 200
        except api.RequestError as exc:
            body, status = error_body(exc.status, exc.message, backend, **exc.detail), exc.status
            if exc.retry_after is not None:
                headers.append(("Retry-After", str(exc.retry_after)))
        except Exception:  # noqa: BLE001 - Flask logs it and answers its JSON 500
            environ["wsgi.input"] = io.BytesIO(raw)
            return self.inner(environ, start_response)
        data = (self.app.json.dumps(body, separators=(",", ":")) + "\n").encode()
        headers.append(("Content-Length", str(len(data))))
        start_response(f"{status} {HTTP_STATUS_CODES[status].upper()}", headers)
        metrics.observe(name, endpoint, status, time.perf_counter() - started)
        return [data]
