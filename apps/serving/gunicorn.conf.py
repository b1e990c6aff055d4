"""Gunicorn settings for the serving app, all from the environment.

    gunicorn -c gunicorn.conf.py wsgi:app     # from apps/serving (or --chdir there)

SERVING_BIND (0.0.0.0:8000), SERVING_WORKERS (2), SERVING_THREADS (4),
SERVING_TIMEOUT (30), SERVING_GRACEFUL_TIMEOUT (20), SERVING_KEEPALIVE (5),
SERVING_LOG_LEVEL (info). Logs go to stdout (access, one JSON object a line) and stderr
(errors). Runs as whatever user starts it: it needs no root and writes no files.
"""

import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = [b.strip() for b in os.environ.get("SERVING_BIND", "0.0.0.0:8000").split(",") if b.strip()]
workers = _int("SERVING_WORKERS", 2)
threads = _int("SERVING_THREADS", 4)
worker_class = "gthread" if threads > 1 else "sync"
timeout = _int("SERVING_TIMEOUT", 30)
graceful_timeout = _int("SERVING_GRACEFUL_TIMEOUT", 20)
keepalive = _int("SERVING_KEEPALIVE", 5)

# Each worker builds the app itself, loads the models and runs its own reload thread
# (threads do not survive a fork, so no preloading in the master).
preload_app = False

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("SERVING_LOG_LEVEL", "info")
access_log_format = (
    '{"time": "%(t)s", "remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", '
    '"query": "%(q)s", "status": %(s)s, "bytes": "%(B)s", "duration_ms": %(M)s, '
    '"agent": "%(a)s", "pid": "%(p)s"}'
)
proc_name = "serving"

# Heartbeat files in memory, not on a possibly slow or read-only container layer.
if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
    worker_tmp_dir = "/dev/shm"
