"""`newsdesk` commands as real subprocesses of a test: started, waited for, killed by pid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import REPO


class NewsdeskProcess:
    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "newsdesk.cli", *args],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.pid = self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL: no handler, no cleanup, as a crash or the OOM killer would end it."""
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@contextmanager
def newsdesk(args: list[str], env: dict[str, str], log_path: Path) -> Iterator[NewsdeskProcess]:
    process = NewsdeskProcess(args, env, log_path)
    try:
        yield process
    finally:
        process.stop()


def wait_until(
    check: Callable[[], Any], timeout_s: float, what: str, process: NewsdeskProcess | None = None
) -> Any:
    """Poll until check() is truthy; fail with the process's log tail when it never is."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if process is not None and process.proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited\n{process.log()[-3000:]}")
        time.sleep(0.2)
    tail = process.log()[-3000:] if process is not None else ""
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}\n{tail}")


def http_json(
    url: str, body: Any = None, timeout_s: float = 60
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, JSON body, headers) of a GET, or of a POST when there is a body."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"} if data else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers)


def healthz(base_url: str) -> dict[str, Any] | None:
    try:
        status, body, _ = http_json(f"{base_url}/healthz", timeout_s=5)
    except (urllib.error.URLError, OSError):
        return None
    return body if status == 200 else None
