"""Real services the tests start or probe: free ports, a private ``redis-server``, database URLs, ``pg_dump``.

Shared by the crash tests (tests/faults), the leak scans and the concurrency test, and their benchmarks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(url: str, default_port: int = 6379) -> bool:
    """Whether something listens at the URL's host and port (Redis's port when it names none)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def database_url(settings_dict: Mapping[str, Any]) -> str:
    """A ``postgres://`` URL for Django's connection settings (the test database's real name)."""
    user = quote(settings_dict.get("USER") or "postgres")
    password = f":{quote(settings_dict['PASSWORD'])}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


def wait_until(predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something true; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM to the process's group (it was started in its own session), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class RedisServer:
    """``redis-server`` on a free loopback port, nothing saved to disk; ``stop()`` ends it."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not installed (Debian's redis-server)")
        self.process = subprocess.Popen(
            [executable, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            cwd=directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(lambda: answers(self.url, self.port), timeout=20, what="redis-server to listen")

    def stop(self) -> None:
        stop_process(self.process)


@contextlib.contextmanager
def private_redis(directory: Path) -> Iterator[str]:
    """A Redis server of the test's own (``RedisServer``): no other test or developer on the machine can take
    its messages or add to them. Yields its URL."""
    directory.mkdir(parents=True, exist_ok=True)
    server = RedisServer(directory)
    try:
        yield server.url
    finally:
        server.stop()


def pg_dump_text(settings_dict: Mapping[str, Any]) -> str:
    """The whole database of these connection settings, as ``pg_dump`` writes it."""
    return subprocess.run(
        [
            shutil.which("pg_dump") or "pg_dump",
            "--no-owner",
            "-h",
            settings_dict["HOST"] or "127.0.0.1",
            "-p",
            str(settings_dict["PORT"] or 5432),
            "-U",
            settings_dict["USER"] or "postgres",
            settings_dict["NAME"],
        ],
        capture_output=True,
        check=True,
        timeout=600,
    ).stdout.decode("utf-8", "replace")
