"""`langgraph dev` serves the graph from langgraph.json; one item runs through it via the SDK."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port, skip_or_fail


@pytest.mark.slow
def test_langgraph_dev_runs_one_item(tmp_path: Path) -> None:
    langgraph = Path(sys.executable).parent / "langgraph"
    if not langgraph.exists() and shutil.which("langgraph") is None:
        skip_or_fail("langgraph-cli[inmem] is not installed")
    from langgraph_sdk import get_sync_client

    port = free_port()
    env = {
        **os.environ,
        "NEWSDESK_DATA_DIR": str(tmp_path / "var"),
        "NEWSDESK_LLM_PROVIDER": "none",
        "LANGSMITH_TRACING": "false",
        "LANGGRAPH_NO_VERSION_CHECK": "1",
    }
    log = (tmp_path / "langgraph-dev.log").open("wb")
    server = subprocess.Popen(
        [
            str(langgraph),
            "dev",
            "--no-browser",
            "--no-reload",
            "--allow-blocking",
            "--port",
            str(port),
            "--config",
            str(REPO / "langgraph.json"),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ok", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(
                    "langgraph dev did not start:\n"
                    + (tmp_path / "langgraph-dev.log").read_text()[-3000:]
                )
            time.sleep(1)

        client = get_sync_client(url=f"http://127.0.0.1:{port}")
        assistants = client.assistants.search(graph_id="news")
        assert assistants, "the news graph is registered"
        # Studio draws its input form from this: one news item, with the item's own fields.
        schemas = client.assistants.get_schemas(assistants[0]["assistant_id"])
        input_schema = schemas["input_schema"]
        assert list(input_schema["properties"]) == ["item"]
        item_ref = input_schema["properties"]["item"]["$ref"].rsplit("/", 1)[-1]
        item_fields = input_schema["$defs"][item_ref]["properties"]
        assert {"id", "source", "title", "text", "published_at"} <= set(item_fields)

        thread = client.threads.create()
        result = client.runs.wait(
            thread["thread_id"],
            "news",
            input={
                "item": {
                    "id": "studio-1",
                    "source": "x",
                    "author": "elonmusk",
                    "title": "Dogecoin to the moon! Tesla will accept DOGE for merch",
                    "published_at": "2021-12-14T09:19:00Z",
                }
            },
        )
        assert result["dedup"]["verdict"] == "unique"
        assert {a["symbol"] for a in result["assets"]} >= {"DOGE", "TSLA"}
        # DOGE is widened past the material line: the story waits for a trader.
        assert result["route"] == "material"
        assert result["recommendations"][0]["symbol"] == "DOGE"
        waiting = client.threads.get_state(thread["thread_id"])
        assert waiting["next"] == ["await_approval"]

        # A resume from Studio carries the decision and the user; the time is the server's.
        final = client.runs.wait(
            thread["thread_id"],
            "news",
            command={"resume": {"decision": "approve", "user": "U1"}},
        )
        assert final["applied"] is True
        assert final["decision"]["user"] == "U1" and final["decision"]["ts"]
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
