"""`newsdesk run` and `newsdesk approvals` on a file of real and broken items."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.reports import RunReport
from core.settings import get_settings
from newsdesk import cli
from tests.conftest import HACK, REPO, SAMPLE


def documented_report_keys() -> set[str]:
    """The run report keys the README promises (its 'What `make run` shows' paragraph)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = re.search(r"writes a JSON\s+run\s+report", readme)
    assert start is not None
    paragraph = readme[start.start() :].split("\n\n")[0]
    return set(re.findall(r"`([a-z_]+)`", paragraph))


def test_the_readme_documents_the_run_report() -> None:
    keys = documented_report_keys()
    assert len(keys) >= 10
    assert keys <= set(RunReport.model_fields)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("NEWSDESK_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NEWSDESK_LLM_PROVIDER", "none")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def mixed_source(tmp_path: Path) -> Path:
    """Real sample lines with broken ones in between: each must be accounted for."""
    real = SAMPLE.read_bytes().splitlines()
    huge = {
        "id": "huge-1",
        "source": "news",
        "title": "Tesla recalls vehicles",
        "text": "Tesla recall. " * 80_000,
        "published_at": "2025-02-21T15:00:00Z",
    }
    lines = [
        *real[:20],
        b'{"id": "broken", "source": "x", "title": "unterminated',
        b'{"id": "nosource", "title": "Bitcoin up", "published_at": "2025-01-01T00:00:00Z"}',
        b'{"id": "latin1", "source": "x", "title": "caf\xe9 cr\xe9dit", '
        b'"published_at": "2025-01-01T00:00:00Z"}',
        json.dumps(HACK).encode(),
        json.dumps(huge).encode(),
        *real[80:100],
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_run_accounts_for_every_item_and_approvals_resume(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = mixed_source(env)
    report_path = env / "report.json"
    assert cli.main(["run", "--source", str(source), "--report", str(report_path), "--quiet"]) == 0
    report = RunReport.model_validate_json(report_path.read_text())
    assert report.items == 45
    assert report.items == report.rejected + report.duplicates + report.related + report.unique
    assert report.rejected == 3
    reasons = " | ".join(r.reason for r in report.rejections)
    assert "UTF-8" in reasons and "source" in reasons
    assert report.duplicates > 0 and report.llm_calls_on_duplicates == 0
    assert report.recommendations_out_of_bounds == 0
    assert report.pending_approvals >= 1
    assert report.latency_ms.unique_p50 is not None and report.latency_ms.duplicate_p50 is not None

    from tools.db import Store

    store = Store(get_settings().resolved_database_url)
    huge = store.item_view("huge-1")
    assert huge is not None and huge.truncated and len(huge.text or "") <= 8000
    assert store.counts().rejections == 3
    store.close()

    capsys.readouterr()
    assert cli.main(["approvals", "list"]) == 0
    assert "hack-1" in capsys.readouterr().out
    assert cli.main(["approvals", "approve", "hack-1", "--user", "trader-1"]) == 0
    assert cli.main(["approvals", "approve", "hack-1", "--user", "trader-2"]) == 1
    capsys.readouterr()
    assert cli.main(["overrides", "--json"]) == 0
    overrides = json.loads(capsys.readouterr().out)
    assert overrides and {o["item_id"] for o in overrides} == {"hack-1"}
    assert {"asset", "bps", "until", "approver", "item_id"} <= set(overrides[0])
    assert {o["approver"] for o in overrides} == {"trader-1"}
    assert "ETH" in {o["asset"] for o in overrides}
    assert all(0 < o["bps"] <= 50 for o in overrides)
    store = Store(get_settings().resolved_database_url)
    approval = store.get_approval("hack-1")
    assert approval is not None
    assert (approval.status, approval.decided_by) == ("approved", "trader-1")
    store.close()

    # Replaying the same file: every id is already known, nothing is analysed twice.
    assert cli.main(["run", "--source", str(source), "--report", str(report_path), "--quiet"]) == 0
    again = RunReport.model_validate_json(report_path.read_text())
    assert again.unique == 0 and again.llm_calls == 0
    assert again.duplicates == again.items - again.rejected


def test_run_posts_to_slack_and_a_cli_decision_updates_the_message(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fake_slack import fake_slack_api

    source = env / "one.jsonl"
    source.write_text(json.dumps(HACK) + "\n")
    with fake_slack_api() as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
        monkeypatch.setenv("NEWSDESK_SLACK_CHANNEL", "CDESK")
        monkeypatch.setenv("NEWSDESK_SLACK_API_URL", slack["url"])
        get_settings.cache_clear()
        assert cli.main(["run", "--source", str(source), "--quiet"]) == 0
        [post] = slack["wait_for"]("chat.postMessage")
        assert post["channel"] == "CDESK" and "Bybit hacked" in json.dumps(post["blocks"])
        assert cli.main(["approvals", "reject", "hack-1", "--user", "trader-1"]) == 0
        [update] = slack["wait_for"]("chat.update")
        assert "rejected" in json.dumps(update["blocks"])


# Runs one CLI command in a fresh interpreter and reports which heavy modules it imported.
PROBE = """
import sys
from newsdesk import cli
code = cli.main(sys.argv[1:])
heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules)
print("HEAVY=" + ",".join(heavy))
sys.exit(code)
"""


def run_probe(data_dir: Path, *args: str) -> tuple[int, str, str]:
    import subprocess
    import sys

    env = {
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
        "NEWSDESK_DATA_DIR": str(data_dir),
        "NEWSDESK_LLM_PROVIDER": "none",
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


def test_approvals_load_no_model_and_print_no_warnings(tmp_path: Path) -> None:
    import shutil

    from tests.test_checkpoints import WAITING_STORY

    data_dir = tmp_path / "var"
    shutil.copytree(WAITING_STORY, data_dir)

    code, out, err = run_probe(data_dir, "approvals", "list")
    assert code == 0, err
    assert "hack-1" in out and "HEAVY=\n" in out
    assert "warn" not in err.lower()

    code, out, err = run_probe(data_dir, "approvals", "approve", "hack-1", "--user", "trader-1")
    assert code == 0, err
    assert "HEAVY=\n" in out and "approved by trader-1" in err
