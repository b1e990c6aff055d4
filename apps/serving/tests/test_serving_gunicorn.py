"""The app under gunicorn with its config file, as the image runs it."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import modelstore
import pytest
from modelstore import contract
from sales_forecast.features import DateFeatures

SERVING = Path(__file__).resolve().parents[1]


def _get(url: str, data: dict | None = None):
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"} if body else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def published(store_dsn):
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import Pipeline

    days = [[f"2024-01-{d:02d}"] for d in range(1, 29)]
    model = Pipeline([("f", DateFeatures()), ("r", LinearRegression())])
    model.fit(days, [10.0 + i for i in range(28)])
    modelstore.publish_version(store_dsn, {}, {"1": (model, {"mae": 0.0})}, model="sales_forecast")
    return store_dsn


@pytest.fixture
def manifest(tmp_path):
    """The image's models manifest, naming the repository's examples (the packages are
    found beside the checkout, as wsgi.py arranges)."""
    folder = tmp_path / "manifest"
    folder.mkdir()
    contract.write_manifest(folder, ["sales_forecast", "bike_rentals"])
    return str(folder)


def test_config_is_valid(manifest, tmp_path):
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("gunicorn")), "--check-config", "-c",
         "gunicorn.conf.py", "wsgi:app"],
        cwd=SERVING, capture_output=True, text=True, timeout=60, check=False,
        env=dict(
            os.environ, MODEL_STORE_DSN="postgresql://x@127.0.0.1:1/x",
            ANALYTICS_MODELS_PATH=manifest,
            # --check-config loads the app in its one process and runs no exit hook
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        ),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_gunicorn_serves_and_logs_json(published, manifest, tmp_path, unused_port):
    port = unused_port
    env = dict(
        os.environ,
        MODEL_STORE_DSN=published,
        SERVING_BIND=f"127.0.0.1:{port}",
        SERVING_WORKERS="2",
        SERVING_RELOAD_SECONDS="1",
        SERVING_GRACEFUL_TIMEOUT="5",
        ANALYTICS_MODELS_PATH=manifest,
    )
    env.pop("SERVING_BACKEND_ID", None)
    out = (tmp_path / "stdout").open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=SERVING, env=env, stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            try:
                status, body = _get(f"{base}/health")
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert status == 200, (tmp_path / "stdout").read_text()
        assert body["backend"].endswith(f":{port}")
        status, body = _get(f"{base}/predict", {"scope": "1", "date": "2024-01-31"})
        assert status == 200
        assert body["prediction"] == pytest.approx(40.0)
        status, body = _get(f"{base}/predict", {"scope": "1"})
        assert status == 422 and "field 'date' is missing" in body["error"]
        assert body["field"] == "date"
        # a connection each, until both workers have answered some (the access log
        # names the process); on a busy machine the second may take a while to boot
        sent, pids, deadline = 1, set(), time.monotonic() + 90
        while len(pids) < 2:
            assert time.monotonic() < deadline, f"one worker answered all {sent} requests in 90 s"
            assert _get(f"{base}/predict", {"scope": "1", "date": "2024-01-31"})[0] == 200
            sent += 1
            out.flush()
            pids = {
                a["pid"] for a in map(json.loads, _access_lines(tmp_path / "stdout"))
                if a["path"] == "/predict" and a["status"] == 200
            }  # fmt: skip
        # whichever worker answers GET /metrics, it counts the requests of both
        scrapes = {_metric(base, 'endpoint="/predict",model="sales_forecast",status="200"')
                   for _ in range(10)}  # fmt: skip
        assert scrapes == {float(sent)}
        version = modelstore.latest_version(published).id
        assert _metric(base, 'serving_model_version{model="sales_forecast"}') == version
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        out.close()
    logs = (tmp_path / "stdout").read_text()
    access = [json.loads(line) for line in _access_lines(tmp_path / "stdout")]
    assert any(a["path"] == "/predict" and a["status"] == 422 for a in access), logs
    assert "loaded model sales_forecast version" in logs


def _access_lines(log: Path) -> list[str]:
    """The access log's complete lines so far: the workers are still writing, and the
    text after the last newline may be half a line."""
    complete = log.read_text().split("\n")[:-1]
    return [line for line in complete if line.startswith('{"time"')]


def _metric(base: str, selector: str) -> float:
    """The value of the one line of GET /metrics that contains ``selector``."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        lines = [line for line in response.read().decode().splitlines() if selector in line]
    assert len(lines) == 1, lines
    return float(lines[0].rsplit(" ", 1)[1])


def _start(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=SERVING, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def _probe(socket_path: Path, *args: str) -> int:
    return subprocess.run(
        [sys.executable, str(SERVING / "probe.py"), *args],
        env=dict(os.environ, SERVING_PROBE_SOCKET=str(socket_path)),
        capture_output=True, timeout=10, check=False,
    ).returncode  # fmt: skip


def _wait_healthy(socket_path: Path, log: Path) -> None:
    deadline = time.monotonic() + 30
    while _probe(socket_path) != 0:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def test_two_instances_share_the_slot_address_and_each_has_its_own_probe(
    published, manifest, tmp_path, unused_port
):
    """How a roll-out replaces a back-end: the next instance listens on the same address
    (SO_REUSEPORT) while the first still serves, each is probed on its own socket, and
    once the first stops gracefully the address keeps answering."""
    env = dict(
        os.environ, MODEL_STORE_DSN=published, SERVING_BIND=f"127.0.0.1:{unused_port}",
        SERVING_WORKERS="1", SERVING_GRACEFUL_TIMEOUT="5", SERVING_REUSE_PORT="1",
        ANALYTICS_MODELS_PATH=manifest,
    )  # fmt: skip
    sockets = {c: tmp_path / f"{c}.sock" for c in "ab"}
    logs = {c: tmp_path / f"{c}.log" for c in "ab"}
    assert _probe(sockets["a"], "--answers") == 1  # nothing listens yet: the probe fails
    procs = {}
    try:
        for c in "ab":
            procs[c] = _start(
                dict(env, SERVING_PROBE_SOCKET=str(sockets[c]), SERVING_BACKEND_ID=f"slot1{c}"),
                logs[c],
            )
            _wait_healthy(sockets[c], logs[c])
        seen = set()
        for _ in range(200):  # new connections: the kernel spreads them over both
            status, body = _get(
                f"http://127.0.0.1:{unused_port}/predict", {"scope": "1", "date": "2024-01-31"}
            )
            assert status == 200
            seen.add(body["backend"])
            if len(seen) == 2:
                break
        assert seen == {"slot1a", "slot1b"}
        procs["a"].send_signal(signal.SIGTERM)
        procs["a"].wait(timeout=30)
        assert not sockets["a"].exists()  # its probe socket went with it
        assert _probe(sockets["b"]) == 0
        answers = {_get(f"http://127.0.0.1:{unused_port}/health")[1]["backend"] for _ in range(20)}
        assert answers == {"slot1b"}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)


def _gunicorn_conf(monkeypatch, tmp_path):
    """gunicorn.conf.py as a module, read from the environment as gunicorn reads it (its
    metrics directory in tmp_path: this process's environment is left as it was)."""
    import importlib.util

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    spec = importlib.util.spec_from_file_location(
        "serving_gunicorn_conf", SERVING / "gunicorn.conf.py"
    )
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


def test_shared_listener_keeps_gunicorns_socket_options_and_listens_once_a_worker_is_ready(
    monkeypatch, unused_port, tmp_path
):
    """The shared address is opened by gunicorn.conf.py, not by gunicorn: it must carry
    the options gunicorn would set (TCP_NODELAY: without it small answers wait for
    delayed ACKs), and take connections only after post_worker_init."""
    import socket
    from types import SimpleNamespace

    from gunicorn.config import Config

    monkeypatch.setenv("SERVING_BIND", f"127.0.0.1:{unused_port}")
    monkeypatch.setenv("SERVING_REUSE_PORT", "1")
    monkeypatch.delenv("SERVING_PROBE_SOCKET", raising=False)
    conf = _gunicorn_conf(monkeypatch, tmp_path)
    server = SimpleNamespace(cfg=Config(), log=None, LISTENERS=[])
    conf.on_starting(server)
    (listener,) = server.LISTENERS
    try:
        sock = listener.sock
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        assert sock.get_inheritable() and not sock.getblocking()
        assert not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)  # not yet
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", unused_port), timeout=2)
        conf.post_worker_init(SimpleNamespace(sockets=server.LISTENERS, cfg=server.cfg))
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        socket.create_connection(("127.0.0.1", unused_port), timeout=2).close()
    finally:
        listener.sock.close()


class _Recorder:
    """The far end of a response: what each sendall carried."""

    def __init__(self):
        self.writes = []

    def sendall(self, data):
        self.writes.append(bytes(data))


@pytest.mark.parametrize(
    ("method", "status", "body"),
    [("POST", "200 OK", b'{"prediction": 1.0}\n'), ("HEAD", "200 OK", b""),
     ("GET", "204 No Content", b"")],
)  # fmt: skip
def test_each_answer_leaves_in_one_write(monkeypatch, tmp_path, method, status, body):
    """gunicorn writes a response's head and body with two sendall calls; a back-end
    killed between them would leave Nginx a head with no body, which it can only pass on
    as a cut connection (wrk's 'Socket errors: read 1'). Under gunicorn.conf.py the whole
    small answer is one write (or none): gunicorn's own Response class, as a worker uses
    it."""
    from types import SimpleNamespace

    from gunicorn.config import Config
    from gunicorn.http import wsgi

    monkeypatch.setattr(wsgi, "Response", wsgi.Response)  # restored after the test
    monkeypatch.delenv("SERVING_REUSE_PORT", raising=False)
    monkeypatch.delenv("SERVING_PROBE_SOCKET", raising=False)
    conf = _gunicorn_conf(monkeypatch, tmp_path)
    conf.on_starting(SimpleNamespace(cfg=Config(), log=None, LISTENERS=[]))

    far = _Recorder()
    request = SimpleNamespace(method=method, version=(1, 1), should_close=lambda: False, headers=[])
    response = wsgi.Response(request, far, Config())
    response.start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    if body:
        response.write(body)
        assert len(far.writes) == 1  # already sent: the head waited for the body, no longer
    response.close()

    assert len(far.writes) == 1, far.writes
    (written,) = far.writes
    assert written.startswith(f"HTTP/1.1 {status}\r\n".encode())
    assert written.endswith(b"\r\n\r\n" + body)
