"""JSON errors: every HTTPException (404, 405, 400, 413, 422, ...) and any crash."""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed, NotFound

log = logging.getLogger("serving.errors")


def error_body(status: int, message: str, backend: str, **extra) -> dict:
    """Every error's JSON: what went wrong (and how to fix it), the status, the back-end."""
    return {"error": message, "status": status, "backend": backend, **extra}


def error_response(status: int, message: str, **extra):
    response = jsonify(error_body(status, message, current_app.config["BACKEND_ID"], **extra))
    response.status_code = status
    return response


def handle_http_exception(exc: HTTPException):
    message = exc.description or exc.name
    if isinstance(exc, NotFound) and message == NotFound.description:
        message = f"no such endpoint: {request.method} {request.path}"
    elif isinstance(exc, MethodNotAllowed):
        allowed = ", ".join(sorted(m for m in (exc.valid_methods or []) if m != "OPTIONS"))
        message = f"method {request.method} is not allowed on {request.path}; use {allowed}"
    response = error_response(exc.code or 500, message)
    for name, value in exc.get_headers():  # keep Allow, Retry-After, ...
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def handle_exception(exc: Exception):
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc)
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, InternalServerError.description)


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_exception)
