"""`newsdesk eval html`: a folder of hand-made eval reports rendered on one HTML page."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.eval_reports import SentimentReport
from core.settings import get_settings
from evals.html_report import load_reports, render, write_html
from evals.report import compare_reports
from newsdesk import cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
IMG_SRC = re.compile(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'")
SCRIPT = "<script>alert('x')</script>"


def classification(n: int, accuracy: float, weighted: float, macro: float) -> dict[str, Any]:
    return {
        "n": n,
        "accuracy": accuracy,
        "weighted_f1": weighted,
        "macro_f1": macro,
        "confusion": {
            "labels": ["bearish", "neutral", "bullish"],
            "matrix": [[120, 76, 20], [85, 756, 86], [13, 105, 170]],
        },
        "failures": 0,
        "latency_ms_per_item": 0.16,
    }


def sentiment_report() -> dict[str, Any]:
    """Shaped like `newsdesk eval sentiment --report` writes it."""
    return {
        "data": "../shared/data/twitter_financial_news_sentiment/sent_train.csv",
        "split": "twitter-heldout",
        "n": 1431,
        "analyzers": {
            "lexicon": classification(1431, 0.731, 0.7303, 0.6557),
            "classifier": classification(1431, 0.8456, 0.8479, 0.7959),
        },
    }


def write_png(path: Path) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(1.5, 1))
    axis.plot([0, 1], [0, 1])
    fig.savefig(path, format="png", dpi=30)
    plt.close(fig)
    return path.read_bytes()


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Three real reports (one in a subfolder), a non-report JSON and a broken JSON."""
    # The pairs report names its plot relative to where the eval ran (the repo root), as
    # `str(plot)` in pairs_eval does; from elsewhere the page must find it beside the report.
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "reports"
    (folder / "sub").mkdir(parents=True)

    # Written as `eval sentiment --compare` writes it: through its model.
    old = SentimentReport.model_validate(sentiment_report())
    old.analyzers["classifier"].weighted_f1 = 0.772
    sentiment = SentimentReport.model_validate(sentiment_report())
    sentiment.compared_with = compare_reports(old, sentiment)
    (folder / "sentiment.json").write_text(sentiment.to_json(), encoding="utf-8")

    plot_bytes = write_png(folder / "pairs_scatter.png")
    pairs = {
        "auc": 0.9123,
        "muddy_middle": 0.3141,
        "f1_at_threshold": 0.7,
        "threshold": 0.75,
        "unique_threshold": 0.5,
        "best_f1": 0.72,
        "best_threshold": 0.71,
        "data": f"pairs {SCRIPT}.csv",
        "model": "all-MiniLM-L6-v2",
        "latency_ms_per_pair": 1.5,
        "llm_tokens_per_item": 0,
        "plot": "var/exp/pairs_scatter.png",
        "compared_with": ["all auc 0.9 -> 0.9123 (+0.0123) <b>"],
    }
    (folder / "pairs.json").write_text(json.dumps(pairs), encoding="utf-8")

    events = {
        "data": "events.jsonl",
        "n": 40,
        "any_precision": 0.9,
        "any_recall": 0.8,
        "per_type": {"Dividend": {"precision": 0.75, "recall": 0.6, "f1": 0.6667}},
    }
    (folder / "sub" / "events.json").write_text(json.dumps(events), encoding="utf-8")

    (folder / "notes.json").write_text(json.dumps({"foo": 1}), encoding="utf-8")
    (folder / "sub" / "broken.json").write_text('{"auc": 0.9, ', encoding="utf-8")
    (folder / "list.json").write_text(json.dumps([{"auc": 0.5}]), encoding="utf-8")
    return {"folder": folder, "plot_bytes": plot_bytes, "sentiment": sentiment}


def test_load_reports_keeps_only_real_reports(reports: dict[str, Any]) -> None:
    folder = reports["folder"]
    found = [path.relative_to(folder).as_posix() for path, _ in load_reports(folder)]
    assert found == ["pairs.json", "sentiment.json", "sub/events.json"]


def test_page_names_every_report_and_skips_the_rest(reports: dict[str, Any]) -> None:
    folder = reports["folder"]
    page = render(folder)

    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert headings == ["pairs.json", "sentiment.json", str(Path("sub") / "events.json")]
    assert f"3 reports from {folder}" in page
    for skipped in ("notes.json", "broken.json", "list.json", "foo"):
        assert skipped not in page
    assert "No eval reports found" not in page
    assert page.startswith("<!doctype html>") and page.endswith("</body></html>")


def test_page_shows_headline_numbers_and_comparisons(reports: dict[str, Any]) -> None:
    page = render(reports["folder"])

    # Sentiment: one row per analyzer, the headline keys as columns, confusion left out.
    for key in ("n", "accuracy", "weighted_f1", "macro_f1", "failures"):
        assert f"<th>{key}</th>" in page
    assert "<th>confusion</th>" not in page
    assert (
        "<tr><td>classifier</td><td>1431</td><td>0.8456</td><td>0.8479</td><td>0.7959</td>" in page
    )
    assert "<tr><td>lexicon</td><td>1431</td><td>0.731</td><td>0.7303</td>" in page
    # Pairs: one row, with its AUC, muddy middle and threshold.
    for key in ("auc", "muddy_middle", "threshold"):
        assert f"<th>{key}</th>" in page
    assert "<td>0.9123</td>" in page and "<td>0.3141</td>" in page
    # The subfolder's events report.
    assert "<th>any_precision</th>" in page and "<td>0.9</td><td>0.8</td>" in page
    # Its per-type breakdown as a table of its own.
    assert "<h3>per event type</h3>" in page
    assert "<td>Dividend</td><td>0.75</td><td>0.6</td><td>0.6667</td>" in page

    # compare_reports' lines, as they are.
    assert "classifier weighted_f1 0.772 -&gt; 0.8479 (+0.0759)" in page
    assert page.count("<ul class='changes'>") == 2
    assert "twitter-heldout" in page and "all-MiniLM-L6-v2" in page


def test_page_escapes_html_from_reports(reports: dict[str, Any]) -> None:
    page = render(reports["folder"])

    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<b>" not in page
    assert "(+0.0123) &lt;b&gt;" in page


def test_page_embeds_one_chart_and_one_plot(reports: dict[str, Any]) -> None:
    page = render(reports["folder"])

    images = IMG_SRC.findall(page)
    assert page.count("data:image/png;base64,") == len(images) == 2
    decoded = [base64.b64decode(image, validate=True) for image in images]
    assert all(png.startswith(PNG_MAGIC) for png in decoded)
    # Pairs comes first (sorted paths): its own plot, byte for byte, found beside the report.
    assert decoded[0] == reports["plot_bytes"]
    # Then the sentiment chart drawn from the numbers: a fresh PNG, not the plot again.
    assert decoded[1] != reports["plot_bytes"]
    assert page.index("<h2>sentiment.json</h2>") < page.index(images[1])
    assert "src='http" not in page and "src='/" not in page


def test_plot_beside_report_with_its_stem(tmp_path: Path) -> None:
    """A report with no ``plot`` key still gets the PNG that shares its name; once only."""
    folder = tmp_path / "reports"
    folder.mkdir()
    plot = write_png(folder / "pairs.png")
    pairs = {"auc": 0.8, "muddy_middle": 0.2, "plot": str(folder / "pairs.png")}
    (folder / "pairs.json").write_text(json.dumps(pairs), encoding="utf-8")

    images = IMG_SRC.findall(render(folder))
    assert [base64.b64decode(image) for image in images] == [plot]


def test_absolute_plot_path_from_another_machine(tmp_path: Path) -> None:
    """Reports fetched from elsewhere name a plot path that is gone: use the one beside them."""
    folder = tmp_path / "reports"
    folder.mkdir()
    plot = write_png(folder / "scatter.png")
    pairs = {"auc": 0.8, "plot": str(tmp_path / "elsewhere" / "var" / "exp" / "scatter.png")}
    (folder / "pairs.json").write_text(json.dumps(pairs), encoding="utf-8")

    images = IMG_SRC.findall(render(folder))
    assert [base64.b64decode(image) for image in images] == [plot]


def test_sentiment_report_without_f1_has_no_chart(tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    report = {"n": 10, "analyzers": {"lexicon": {"n": 10, "accuracy": 0.5}}}
    (folder / "sentiment.json").write_text(json.dumps(report), encoding="utf-8")

    page = render(folder)
    assert "<h2>sentiment.json</h2>" in page
    assert "data:image/png" not in page


def test_empty_folder(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.json").write_text(json.dumps({"foo": 1}), encoding="utf-8")

    page = render(folder)
    assert "No eval reports found" in page
    assert "0 reports from" in page
    assert "<h2>" not in page and "<img" not in page


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("NEWSDESK_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NEWSDESK_LLM_PROVIDER", "none")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_cli_eval_html_writes_the_page(
    env: Path, reports: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = reports["folder"]
    out = env / "site" / "index.html"

    code = cli.main(["eval", "html", "--reports", str(folder), "--out", str(out)])

    assert code == 0
    page = out.read_text(encoding="utf-8")
    assert re.findall(r"<h2>(.*?)</h2>", page) == [
        "pairs.json",
        "sentiment.json",
        str(Path("sub") / "events.json"),
    ]
    assert "<td>0.8479</td>" in page
    assert len(IMG_SRC.findall(page)) == 2
    said = capsys.readouterr()
    assert str(out) in (said.out + said.err).replace("\n", "")
    assert not (folder / "report.html").exists()
    assert (env / "var").is_dir()


def test_cli_eval_html_default_out_is_beside_the_reports(
    env: Path, reports: dict[str, Any]
) -> None:
    folder = reports["folder"]

    assert cli.main(["eval", "html", "--reports", str(folder)]) == 0
    first = (folder / "report.html").read_text(encoding="utf-8")
    assert "3 reports from" in first
    # Running again does not pick up its own page (or anything else new) as a report.
    assert write_html(folder) == folder / "report.html"
    assert "3 reports from" in (folder / "report.html").read_text(encoding="utf-8")


def test_cli_eval_html_empty_folder(env: Path) -> None:
    folder = env / "nothing"
    folder.mkdir()
    out = env / "out.html"

    assert cli.main(["eval", "html", "--reports", str(folder), "--out", str(out)]) == 0
    assert "No eval reports found" in out.read_text(encoding="utf-8")
