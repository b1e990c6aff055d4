"""Gunicorn settings for the serving app, all from the environment.

    gunicorn -c gunicorn.conf.py wsgi:app     # from apps/serving (or --chdir there)

SERVING_BIND (0.0.0.0:8000), SERVING_WORKERS (2), SERVING_THREADS (4),
SERVING_TIMEOUT (30), SERVING_GRACEFUL_TIMEOUT (20), SERVING_KEEPALIVE (5),
SERVING_LOG_LEVEL (info), SERVING_ACCESS_LOG (on), SERVING_REUSE_PORT (off),
SERVING_PROBE_SOCKET (none).

Upgrades with no dropped connection (roles/serving/README.md): with SERVING_REUSE_PORT=1
the SERVING_BIND addresses are opened with SO_REUSEPORT, so the next instance of a
back-end listens on the same address while the current one still serves; the kernel
spreads new connections over both, and the old one drains on SIGTERM. Each instance also
listens on SERVING_PROBE_SOCKET, a Unix socket private to it (its container's /tmp),
where its health check (probe.py) reaches this instance and no other.

Metrics (serving/metrics.py): each worker writes its figures to PROMETHEUS_MULTIPROC_DIR
(a fresh directory in /dev/shm unless set), so GET /metrics sums them whichever worker
answers; a worker that exits is marked dead there, and the directory goes with the master.

Logs go to stdout (access, one JSON object a line; SERVING_ACCESS_LOG=0 turns it off: it
costs about a tenth of a small request's time, and behind Nginx, whose own access log
names each request's back-end, the serving role turns it off) and stderr (errors). Runs as whatever
user starts it: it needs no root and writes no files on disk (the probe socket and the
metrics files in memory aside).
"""

import os
import shutil
import socket
import tempfile


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = [b.strip() for b in os.environ.get("SERVING_BIND", "0.0.0.0:8000").split(",") if b.strip()]
reuse_port_shared = os.environ.get("SERVING_REUSE_PORT", "") in ("1", "true", "yes")
probe_socket = os.environ.get("SERVING_PROBE_SOCKET", "").strip()
workers = _int("SERVING_WORKERS", 2)
threads = _int("SERVING_THREADS", 4)
worker_class = "gthread" if threads > 1 else "sync"
timeout = _int("SERVING_TIMEOUT", 30)
graceful_timeout = _int("SERVING_GRACEFUL_TIMEOUT", 20)
keepalive = _int("SERVING_KEEPALIVE", 5)

# Each worker builds the app itself, loads the models and runs its own reload thread
# (threads do not survive a fork, so no preloading in the master).
preload_app = False

accesslog = "-" if os.environ.get("SERVING_ACCESS_LOG", "1") not in ("0", "false", "no") else None
errorlog = "-"
loglevel = os.environ.get("SERVING_LOG_LEVEL", "info")
access_log_format = (
    '{"time": "%(t)s", "remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", '
    '"query": "%(q)s", "status": %(s)s, "bytes": "%(B)s", "duration_ms": %(M)s, '
    '"agent": "%(a)s", "pid": "%(p)s"}'
)
proc_name = "serving"

# Heartbeat and metrics files in memory, not on a possibly slow or read-only container layer.
_shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
if _shm:
    worker_tmp_dir = _shm

# Set before any worker imports prometheus_client (it reads it at import); the workers
# inherit it. A directory given by the environment is emptied of an earlier run's files.
_metrics_dir_given = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip())
if _metrics_dir_given:
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    for _name in os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]):
        if _name.endswith(".db"):
            os.unlink(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], _name))
else:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="serving-metrics-", dir=_shm)


class _HeadHeldSocket:
    """The client socket as one response sees it: the first sendall (gunicorn sends the
    status line and headers on their own) is held back and goes out with the body's first
    bytes, or when the response closes. A back-end killed mid-answer (a crash, the OOM
    killer) has then sent either nothing, which Nginx retries on another back-end, or a
    whole small answer; never headers without their body, which Nginx could only pass on
    as a cut connection."""

    def __init__(self, sock):
        self._sock, self._held, self._first = sock, b"", True

    def sendall(self, data):
        if self._first:
            self._first, self._held = False, bytes(data)
            return None
        data, self._held = self._held + bytes(data), b""
        return self._sock.sendall(data)

    def flush(self):
        if self._held:
            self._sock.sendall(self._held)
            self._held = b""

    def sendfile(self, *args, **kwargs):
        self.flush()
        return self._sock.sendfile(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def _answer_in_one_write():
    """Make every gunicorn response write its head together with its body."""
    from gunicorn.http import wsgi

    if getattr(wsgi.Response, "head_held", False):
        return

    class Response(wsgi.Response):
        head_held = True

        def __init__(self, req, sock, cfg):
            super().__init__(req, _HeadHeldSocket(sock), cfg)

        def close(self):
            super().close()
            self.sock.flush()

    wsgi.Response = Response


def on_starting(server):
    """Open the listeners before gunicorn would: the shared TCP addresses with
    SO_REUSEPORT, the probe socket without (gunicorn's own reuse_port applies to every
    listener, and Linux refuses SO_REUSEPORT on a Unix socket).

    A shared address is bound here but listens only once a worker has loaded the app
    (post_worker_init): until then the kernel keeps sending every new connection to the
    instance already serving, instead of queueing some behind a back-end still starting.
    Also makes each response one write (_answer_in_one_write); the workers inherit it.
    """
    _answer_in_one_write()
    if not (reuse_port_shared or probe_socket):
        return
    from gunicorn import sock as gsock
    from gunicorn import util

    listeners = []
    for address in bind:
        host, port = util.parse_address(address)
        kind = gsock.TCP6Socket if util.is_ipv6(host) else gsock.TCPSocket
        raw = socket.socket(kind.FAMILY, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # As gunicorn's own TCP listeners (accepted sockets inherit it): without it,
        # Nagle's algorithm and delayed ACKs hold small answers back for 40 ms.
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if reuse_port_shared:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        raw.bind((host, port))
        fd = raw.detach()
        if reuse_port_shared:
            # gunicorn's socket object over a bound, not yet listening socket.
            listener = object.__new__(kind)
            listener.log, listener.conf, listener.cfg_addr = server.log, server.cfg, (host, port)
            listener.sock = socket.socket(kind.FAMILY, socket.SOCK_STREAM, fileno=fd)
            listener.sock.setblocking(False)
            listener.sock.set_inheritable(True)
        else:
            # gunicorn takes the descriptor over (listen, inheritable, closed on shutdown).
            listener = kind((host, port), server.cfg, server.log, fd=fd)
        listeners.append(listener)
    if probe_socket:
        listeners.append(gsock.UnixSocket(probe_socket, server.cfg, server.log))
    server.LISTENERS = listeners


def post_worker_init(worker):
    """The app is loaded (models included): the shared addresses may take connections.
    listen() on the shared socket makes it listen for every process holding it; a
    second call (the next worker) only restates the backlog."""
    if reuse_port_shared:
        for listener in worker.sockets:
            if listener.sock.family != socket.AF_UNIX:
                listener.sock.listen(worker.cfg.backlog)


def child_exit(server, worker):
    """A worker's gauges leave the live figures with it (its counters stay summed)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if not _metrics_dir_given:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
