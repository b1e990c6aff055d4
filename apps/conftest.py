"""Fixtures of the apps' tests: a throwaway PostgreSQL server and a local SparkSession.

Everything here is opt-in (no autouse): a test asks for ``pg_server``/``store_dsn``
(a real PostgreSQL, started from the Debian ``postgresql`` package's binaries) or for
``spark`` (local[2]). The model store, training and serving packages are put on
sys.path (and shipped to Spark's Python workers by the ``spark`` fixture).
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

APPS = Path(__file__).resolve().parent
MODELS = APPS.parent / "models"
APP_PATHS = [
    str(APPS / "modelstore"), str(APPS / "training"), str(APPS / "serving"), str(MODELS),
]  # fmt: skip

for _p in reversed(APP_PATHS):
    if _p not in sys.path:
        sys.path.insert(0, _p)

# Spark's Python workers default to the first "python3" on PATH, which may lack pandas
# and pyarrow: point them (and any SparkSession of this process) at this interpreter,
# and keep Spark on loopback. Both are no-ops for code that does not use Spark.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# The repository's example models, as an image's manifest would name them.
os.environ.setdefault("ANALYTICS_DEFAULT_MODEL", "sales_forecast")


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bindir() -> Path | None:
    """Directory of initdb/pg_ctl: $PG_BINDIR, Debian's newest, or PATH."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    """A running throwaway PostgreSQL; ``dsn`` connects to its ``postgres`` database."""

    bindir: Path
    root: Path
    port: int
    user: str
    password: str
    as_postgres: bool

    @property
    def data(self) -> Path:
        return self.root / "data"

    def dsn_for(self, dbname: str = "postgres") -> str:
        return (
            f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{dbname}"
            "?connect_timeout=5"
        )

    @property
    def dsn(self) -> str:
        return self.dsn_for("postgres")

    def _cmd(self, tool: str, *args: str) -> list[str]:
        cmd = [str(self.bindir / tool), *args]
        return ["runuser", "-u", "postgres", "--", *cmd] if self.as_postgres else cmd

    def run(self, tool: str, *args: str, timeout: int = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            self._cmd(tool, *args),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            check=False,
        )
        if proc.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({proc.returncode}):\n"
                f"{proc.stdout}\n{proc.stderr}\n{tail}"
            )
        return proc

    def start(self) -> None:
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
        )
        self.run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            opts,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def create_database(self) -> str:
        """A new empty database; returns its DSN."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn_for(name)

    def drop_database(self, dsn: str) -> None:
        import psycopg

        name = dsn.rsplit("/", 1)[1].split("?", 1)[0]
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_pg_server() -> PgServer:
    """initdb + pg_ctl start on a free loopback port, password (SCRAM) auth."""
    bindir = _pg_bindir()
    if bindir is None or not (bindir / "initdb").exists() or not (bindir / "pg_ctl").exists():
        pytest.fail(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: the apps' tests need a "
            "real PostgreSQL. Install it with `apt-get install -y postgresql` (Debian; gives "
            "/usr/lib/postgresql/15/bin) or set PG_BINDIR to the directory of initdb.",
            pytrace=False,
        )
    as_postgres = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="apps-pg-"))
    password = secrets.token_hex(16)
    server = PgServer(bindir, root, free_port(), "apps_test", password, as_postgres)
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    if as_postgres:
        try:
            shutil.chown(root, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        except (LookupError, PermissionError) as exc:
            shutil.rmtree(root, ignore_errors=True)
            pytest.fail(
                f"running as root needs the 'postgres' system user to own the test server "
                f"({exc}): install it with `apt-get install -y postgresql`",
                pytrace=False,
            )
    os.chmod(root, 0o700)
    pwfile.chmod(0o600)
    try:
        server.run(
            "initdb", "-D", str(server.data), "-U", server.user, f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-sync", timeout=120,
        )  # fmt: skip
        server.start()
    except Exception:
        with contextlib.suppress(Exception):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server


def remove_pg_server(server: PgServer) -> None:
    with contextlib.suppress(Exception):
        server.stop()
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL server for the whole session (stopped and removed after)."""
    server = start_pg_server()
    try:
        yield server
    finally:
        remove_pg_server(server)


@pytest.fixture(scope="session")
def pg_dsn(pg_server) -> str:
    """DSN (password auth over 127.0.0.1) of the session's PostgreSQL server."""
    return pg_server.dsn


@pytest.fixture
def store_dsn(pg_server):
    """DSN of a fresh, empty database on the session's server, for one test."""
    dsn = pg_server.create_database()
    try:
        yield dsn
    finally:
        with contextlib.suppress(Exception):
            pg_server.drop_database(dsn)


@pytest.fixture
def stoppable_pg():
    """A PostgreSQL server of its own that the test may stop (``.stop()``)."""
    server = start_pg_server()
    try:
        yield server
    finally:
        remove_pg_server(server)


@pytest.fixture
def unused_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    return free_port()


@pytest.fixture
def closed_port_dsn() -> str:
    """A DSN nothing listens on (connection refused at once)."""
    return f"postgresql://nobody:nothing@127.0.0.1:{free_port()}/none?connect_timeout=2"


# --------------------------------------------------------------------------- Spark


@pytest.fixture(scope="session")
def spark_env() -> dict:
    """Environment for Spark processes: the venv's Python, loopback only."""
    return {
        "PYSPARK_PYTHON": os.environ["PYSPARK_PYTHON"],
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": os.environ["SPARK_LOCAL_IP"],
    }


@pytest.fixture(scope="session")
def spark(spark_env, tmp_path_factory):
    """A small local[2] SparkSession for the whole test session.

    Only one SparkContext can live in a process: when another conftest's session is
    already running, getOrCreate returns that one. Either way the training and
    modelstore packages are shipped to its Python workers with addPyFile (as train.py
    does on a cluster), so nothing depends on the workers' PYTHONPATH.
    """
    import bike_rentals
    import sales_forecast
    from pyspark.sql import SparkSession
    from training.job import package_zip

    session = (
        SparkSession.builder.master("local[2]")
        .appName("apps-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    pyfiles = str(tmp_path_factory.mktemp("pyfiles"))
    session.sparkContext.addPyFile(package_zip(pyfiles, (sales_forecast, bike_rentals)))
    try:
        yield session
    finally:
        session.stop()
