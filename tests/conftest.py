"""Shared fixtures: settings in a temp dir, the real models, the real local LLM server."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from core.settings import Settings  # noqa: E402
from graph.deps import Deps, build_deps  # noqa: E402
from tools.llm import LLMClient  # noqa: E402

IN_CI = bool(os.environ.get("CI"))
REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "tools" / "data" / "sample_news.jsonl"
# A material story used across the tests: an exchange hack, as a source line would carry it.
HACK: dict[str, Any] = {
    "id": "hack-1",
    "source": "x",
    "author": "zachxbt",
    "author_followers": 900000,
    "title": "Bybit hacked: $1.4 billion in ether drained, withdrawals halted",
    "published_at": "2025-02-21T14:00:00Z",
}
PG_URL = os.environ.get("NEWSDESK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NATS_URL = os.environ.get("NEWSDESK_TEST_NATS_URL", "nats://127.0.0.1:4222")


def skip_or_fail(reason: str) -> None:
    """Skip on a user's machine; CI has every service, so there a missing one is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (CI is set, so this must not be skipped)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: skipped on a user's clone without it, a failure under CI."""
    from evals.datasets import shared_data_dir

    path = shared_data_dir()
    if not (path / "README.md").exists():
        skip_or_fail(f"shared datasets not found at {path} (set NEWSDESK_SHARED_DATA)")
    return path


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"data_dir": tmp_path / "var", "llm_provider": "none"}
        values.update(overrides)
        return Settings(**values)

    return factory


@pytest.fixture
def make_deps(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., Deps]]:
    built: list[Deps] = []

    def factory(llm: LLMClient | None = None, **overrides: Any) -> Deps:
        deps = build_deps(make_settings(**overrides), llm=llm)
        built.append(deps)
        return deps

    yield factory
    for deps in built:
        deps.store.close()


@pytest.fixture(scope="session")
def llm_base_url() -> Iterator[str]:
    """The real SmolLM2 server, started once for the whole session."""
    try:
        from serving.llama_server import LlamaServer, smollm2_model_path

        smollm2_model_path()
        import llama_cpp  # noqa: F401
    except (ImportError, FileNotFoundError) as exc:
        skip_or_fail(f"local LLM not installed: {exc}")
    server = LlamaServer(port=free_port())
    server.start()
    try:
        yield server.base_url
    finally:
        server.stop()


@pytest.fixture
def llm_settings(llm_base_url: str) -> dict[str, Any]:
    """Overrides that point the settings at the session's real LLM server."""
    return {"llm_provider": "llamacpp", "llm_base_url": llm_base_url, "llm_timeout_s": 60.0}


@cache
def pg_unreachable_reason() -> str | None:
    """Checked once per session so a down server costs one timeout, not one per test."""
    engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return None
    except OperationalError as exc:
        shown = make_url(PG_URL).render_as_string(hide_password=True)
        return f"PostgreSQL unreachable at {shown}: {str(exc.orig).strip()}"
    finally:
        engine.dispose()


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    reason = pg_unreachable_reason()
    if reason is not None:
        skip_or_fail(reason)
    schema = f"newsdesk_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@cache
def nats_unreachable_reason() -> str | None:
    """Checked once per session: a JetStream-enabled NATS server at NATS_URL."""
    import nats

    async def probe() -> None:
        connection = await nats.connect(NATS_URL, connect_timeout=3, max_reconnect_attempts=0)
        try:
            await connection.jetstream().account_info()
        finally:
            await connection.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"NATS JetStream unreachable at {NATS_URL}: {exc!r}"
    return None


@pytest.fixture
def nats_bus() -> Iterator[dict[str, Any]]:
    """Settings for a JetStream bus on streams and subjects of this test only, deleted after.

    The unique prefix keeps tests (and other people's streams on the same server) apart: two
    streams may not share a subject.
    """
    reason = nats_unreachable_reason()
    if reason is not None:
        skip_or_fail(reason)
    tag = uuid.uuid4().hex[:10]
    overrides = {
        "bus_url": NATS_URL,
        "bus_stream_prefix": f"TEST_{tag}",
        "bus_intake_subject": f"test-{tag}.news.in",
        "bus_unique_subject": f"test-{tag}.news.unique",
    }
    yield overrides
    prefix = overrides["bus_stream_prefix"]
    asyncio.run(delete_streams([f"{prefix}_IN", f"{prefix}_UNIQUE"]))


async def delete_streams(names: list[str]) -> None:
    import nats
    from nats.js.errors import NotFoundError

    connection = await nats.connect(NATS_URL, connect_timeout=3, max_reconnect_attempts=0)
    try:
        js = connection.jetstream()
        for name in names:
            try:
                await js.delete_stream(name)
            except NotFoundError:
                pass
    finally:
        await connection.close()


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a `newsdesk` subprocess needs to run with exactly these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSDESK_", "SLACK_"))}
    aliases = {"slack_bot_token", "slack_signing_secret", "slack_app_token"}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if name in settings.model_fields_set or name == "data_dir":
            if isinstance(value, set):
                value = ",".join(sorted(value))
            elif isinstance(value, dict):
                value = json.dumps(value)
            key = name.upper() if name in aliases else f"NEWSDESK_{name.upper()}"
            env[key] = str(value)
    env.update(PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    # One torch thread per subprocess: the test machine's two cores are shared with the test
    # process (and other jobs), and oversubscribed threads made each embedding ~5x slower.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env
