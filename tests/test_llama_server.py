"""The llama.cpp wrapper refuses a server that lists its model but dies when asked for text."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from serving.llama_server import LlamaServer
from tests.conftest import free_port

# Answers /v1/models like llama.cpp's server, then dies on the first completion, as the native
# build did (SIGSEGV in its AMX kernel): exit code 139 without a reply.
CRASHES_ON_FIRST_COMPLETION = textwrap.dedent(
    """
    import json, os, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": "smollm2"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            os._exit(139)

    HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
    """
)


class CrashingServer(LlamaServer):
    def command(self) -> list[str]:
        return [sys.executable, "-c", CRASHES_ON_FIRST_COMPLETION, str(self.port)]


def test_a_server_that_crashes_on_its_first_completion_is_not_started(tmp_path: Path) -> None:
    server = CrashingServer(model_path=tmp_path / "unused.gguf", port=free_port())
    with pytest.raises(RuntimeError, match="failed its first completion.*exited with code 139"):
        server.start(timeout_s=30)
    # The failed start cleans up after itself: nothing is left answering on the port.
    assert server._process is None
    assert not server.healthy()
