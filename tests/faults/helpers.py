"""Real processes for the crash tests: Celery workers a failpoint kills, a web server, a throwaway PostgreSQL.

- ``RedisServer``: a ``redis-server`` of the tests' own on a free loopback port. Not a database of the
  shared server: other tests and benchmarks run workers on its databases at the same time, which would
  take these tests' messages, and the short visibility timeout set here would hand their long tasks out
  twice (Redis keeps one "unacknowledged" index per database, whatever the queue).
- ``Workers``: ``celery -A c360 worker --pool=solo`` subprocesses on that broker. ``C360_FAILPOINTS`` arms
  ``c360.lib.faults.failpoint`` in a worker: it SIGKILLs itself there.
- ``Cluster``: a PostgreSQL cluster made for one test with Debian's ``pg_createcluster`` on a free port,
  restarted and stopped at will, dropped at the end. The shared server on 5432 is never touched.
- ``app_env``: the environment a c360 process of the test needs: production settings (``c360.settings.base``),
  the test keys and files folder of this process, and the database given.

Used by tests/faults/ and bench/faults.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.processes import (  # noqa: F401 - the crash tests import these from here too
    RedisServer,
    answers,
    database_url,
    free_port,
    stop_process,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Seconds before Redis hands out again a message whose worker died: short, so a restarted worker gets it.
VISIBILITY_TIMEOUT = 1
# What a c360 process needs from the test's own environment (tests/conftest.py and c360/settings/test.py
# set them): the same keys, so what one process encrypts the other reads, and the same files folder.
SHARED_ENV = ("C360_KEYRING", "C360_INDEX_KEY", "SECRET_KEY", "C360_RECEIPT_SIGNING_KEY", "C360_FILES_DIR")


def app_env(database: str, **overrides: str) -> dict[str, str]:
    """The environment of a c360 process (worker, web server, command) on ``database``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("PYTEST_", "C360_FAILPOINTS"))}
    missing = [name for name in SHARED_ENV if not os.environ.get(name)]
    if missing:
        raise RuntimeError(f"the test settings did not set {', '.join(missing)}")
    env.update(
        DJANGO_SETTINGS_MODULE="c360.settings.base",
        DATABASE_URL=database,
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        LOG_FORMAT="text",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


# ---------------------------------------------------------------- Celery workers


class Worker:
    """One worker process; ``failpoints`` name where it kills itself."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path, failpoints: tuple[str, ...]) -> None:
        self.process = process
        self.log = log
        self.failpoints = failpoints

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_killed(self, timeout: float = 60) -> None:
        """Wait for the worker to die at one of its failpoints (by SIGKILL, as the kernel would kill it)."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_process(self.process)
            raise AssertionError(
                f"the worker armed with {self.failpoints} did not die within {timeout:.0f}s\n{self.log_tail()}"
            ) from None
        assert code == -signal.SIGKILL, f"the worker exited with {code}, not SIGKILL\n{self.log_tail()}"

    def alive(self) -> bool:
        return self.process.poll() is None


class Workers:
    """Starts workers (each its own session, so stopping one stops its beat too) and stops them all."""

    def __init__(self, database: str, broker_url: str, directory: Path, **env: str) -> None:
        self.database = database
        self.broker_url = broker_url
        self.directory = directory
        self.env = env
        self.started: list[Worker] = []

    def start(self, *failpoints: str, beat: bool = False, **env: str) -> Worker:
        number = len(self.started) + 1
        log = self.directory / f"worker{number}.log"
        command = [
            str(BIN / "celery"),
            "-A",
            "c360",
            "worker",
            "--pool=solo",
            f"--hostname=faults{number}@%h",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if beat:
            command += ["--beat", f"--schedule={self.directory / f'beat{number}-schedule'}"]
        environment = app_env(
            self.database,
            CELERY_BROKER_URL=self.broker_url,
            C360_FAILPOINTS=",".join(failpoints),
            C360_BROKER_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
            **{**self.env, **env},
        )
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(process, log, tuple(failpoints))
        self.started.append(worker)
        return worker

    def kill_all(self) -> None:
        """At the end of a test: no graceful shutdown needed (the broker is emptied after), so none waited for."""
        for worker in self.started:
            if worker.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.process.pid, signal.SIGKILL)
                worker.process.wait(timeout=10)


def _redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url)


def broker_purge(url: str) -> None:
    """Empty the broker: queued and unacknowledged messages alike (as a broker that lost them)."""
    client = _redis(url)
    try:
        client.flushdb()
    finally:
        client.close()


def broker_idle(url: str, queue: str = "celery") -> bool:
    """Nothing queued and nothing delivered but unacknowledged: every message was handled."""
    client = _redis(url)
    try:
        return client.llen(queue) == 0 and client.hlen("unacked") == 0
    finally:
        client.close()


# ---------------------------------------------------------------- a PostgreSQL cluster of one's own


class ClusterUnavailable(RuntimeError):
    """Why a throwaway cluster cannot be made here (no Debian PostgreSQL tools, not root...)."""


class Cluster:
    """``pg_createcluster VERSION NAME -p PORT --start -- --auth=trust``; ``drop()`` removes it for good."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.tools: dict[str, str] = {}
        for tool in ("pg_createcluster", "pg_ctlcluster", "pg_dropcluster", "pg_dump", "psql"):
            found = shutil.which(tool)
            if found is None:
                raise ClusterUnavailable(f"{tool} is not installed (Debian's postgresql-common and postgresql)")
            self.tools[tool] = found
        self.version = self._version()

    @staticmethod
    def _version() -> str:
        if os.geteuid() != 0:
            raise ClusterUnavailable("pg_createcluster needs root to create a cluster owned by postgres")
        versions = sorted(
            (path.name for path in Path("/usr/lib/postgresql").glob("*") if (path / "bin" / "initdb").exists()),
            key=int,
        )
        if not versions:
            raise ClusterUnavailable("no PostgreSQL server binaries under /usr/lib/postgresql")
        return versions[-1]

    def _run(self, tool: str, *arguments: str, timeout: float = 60) -> None:
        command = [self.tools[tool], *arguments]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(arguments)} failed ({result.returncode}): {result.stderr[-2000:]}")

    def create(self) -> None:
        self._run(
            "pg_createcluster",
            self.version,
            self.name,
            "-p",
            str(self.port),
            "--start",
            "--start-conf=manual",
            "--",
            "--auth=trust",
            timeout=120,
        )
        wait_until(self.answers, timeout=30, what=f"cluster {self.name} to accept connections")

    def answers(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def ctl(self, action: str, *options: str) -> None:
        """``pg_ctlcluster VERSION NAME start|stop|restart`` (stop and restart in fast mode: connections cut)."""
        self._run("pg_ctlcluster", self.version, self.name, action, *options)

    def copy_database(self, source_url: str, database: str) -> None:
        """A copy of another server's database (schema and rows) as ``database`` here: pg_dump | psql."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        with tempfile.NamedTemporaryFile(suffix=".sql") as dump:
            self._run("pg_dump", "--no-owner", "--no-privileges", "-f", dump.name, "--dbname", source_url)
            self._run("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", dump.name, "--dbname", self.url(database))

    def drop(self) -> None:
        command = [self.tools["pg_dropcluster"], self.version, self.name, "--stop"]
        subprocess.run(command, capture_output=True, timeout=60, check=False)


def serve(database: str, directory: Path, *, workers: int = 2, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """c360 under gunicorn on a free loopback port (production settings), answering /healthz."""
    port = free_port()
    log = directory / "gunicorn.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "c360.wsgi:application",
                f"--bind=127.0.0.1:{port}",
                f"--workers={workers}",
                "--timeout=30",
                "--graceful-timeout=5",
                "--log-level=warning",
            ],
            cwd=ROOT,
            env=app_env(database, ALLOWED_HOSTS="127.0.0.1,localhost", **env),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {process.returncode}\n{log.read_text(errors='replace')}")
        return answers(base, port)

    wait_until(healthy, timeout=60, what="gunicorn to listen")
    return process, base


def manage(database: str, *arguments: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``manage.py ARGUMENTS`` in its own process on ``database`` (production settings)."""
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env=app_env(database),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
