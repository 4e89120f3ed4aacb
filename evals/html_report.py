"""`newsdesk eval html`: every JSON eval report in a folder on one self-contained HTML page.

Each report gets its headline numbers as a table, its comparison lines, a chart drawn from its
numbers where one helps (F1 per sentiment analyzer, a confusion matrix) and the plots it wrote
itself (pair similarity scatters). Images are embedded, so the page can be mailed or attached.

The page reads the reports as plain JSON rather than through their models in
`core.eval_reports`: a folder may hold reports written by earlier versions (before a key
became required) or trimmed by hand, and the page should show what each one has rather than
skip it. Which keys are headline numbers still comes from the models.
"""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.eval_reports import all_headline_fields

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.55rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; } .meta { color: #666; font-size: 0.85rem; }
img { max-width: 100%; margin: 0.4rem 0; border: 1px solid #eee; }
ul.changes { font-family: monospace; font-size: 0.85rem; }
"""


HEADLINE_KEYS = all_headline_fields()


def report_rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One row per analyzer (sentiment) or a single row (every other eval)."""
    if "analyzers" in report:
        return dict(report["analyzers"])
    return {"all": report}


def breakdowns(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The per-dataset, per-horizon and per-type rows a report carries, as the models'
    ``breakdowns`` give them."""
    tables: list[tuple[str, dict[str, Any]]] = []
    datasets = {k: v for k, v in report.get("datasets", {}).items() if "n" in v}
    if datasets:
        tables.append(("per dataset", datasets))
    horizons = {
        f"{name} {h}": row
        for name, d in datasets.items()
        for h, row in d.get("horizons", {}).items()
    }
    if len(horizons) > len(datasets):
        tables.append(("per dataset and horizon", horizons))
    if "per_type" in report:
        tables.append(("per event type", report["per_type"]))
    return tables


def load_reports(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every ``*.json`` under the folder that looks like an eval report, sorted by path."""
    reports: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted(folder.rglob("*.json")):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(report, dict) and any(
            key in row for row in report_rows(report).values() for key in HEADLINE_KEYS
        ):
            reports.append((path, report))
    return reports


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def sentiment_chart(report: dict[str, Any]) -> str | None:
    """Weighted F1 per analyzer beside the confusion matrix of the best one."""
    analyzers = report.get("analyzers") or {}
    scored = {k: v for k, v in analyzers.items() if "weighted_f1" in v}
    if not scored:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (bars, matrix) = plt.subplots(1, 2, figsize=(10, 3.2))
    names = list(scored)
    values = [scored[n]["weighted_f1"] for n in names]
    bars.barh(names, values, color="tab:blue")
    for y, value in enumerate(values):
        bars.text(value + 0.01, y, f"{value:.3f}", va="center", fontsize=8)
    bars.set_xlim(0, 1.1)
    bars.set_xlabel("weighted F1")
    best = max(names, key=lambda n: scored[n]["weighted_f1"])
    confusion = scored[best].get("confusion")
    if confusion:
        labels, cells = confusion["labels"], confusion["matrix"]
        matrix.imshow(cells, cmap="Blues")
        for i, row in enumerate(cells):
            for j, count in enumerate(row):
                matrix.text(j, i, str(count), ha="center", va="center", fontsize=8)
        matrix.set_xticks(range(len(labels)), labels)
        matrix.set_yticks(range(len(labels)), labels)
        matrix.set_xlabel("predicted")
        matrix.set_ylabel("gold")
        matrix.set_title(f"{best}: confusion", fontsize=9)
    else:
        matrix.axis("off")
    fig.tight_layout()
    return _png(fig)


def _table(rows: dict[str, dict[str, Any]]) -> str:
    # In the order the report has them (its model's field order), every key any row has.
    keys = list(dict.fromkeys(k for r in rows.values() for k in r if k in HEADLINE_KEYS))
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(f"<td>{html.escape(str(values.get(k, '')))}</td>" for k in keys)
        + "</tr>"
        for name, values in rows.items()
    )
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def _plots(path: Path, report: dict[str, Any]) -> list[str]:
    """The PNGs a report names (``plot``/``plots``) or that sit beside it with its stem."""
    named = [report.get("plot")] + list((report.get("plots") or {}).values())
    candidates = [Path(p) for p in named if p] + [path.with_suffix(".png")]
    images: list[bytes] = []
    for candidate in candidates:
        # A path from another machine or working directory: the same name beside the report.
        for option in (candidate, path.parent / candidate.name):
            if option.exists():
                image = option.read_bytes()
                # A copied report names the original and sits beside its copy: one image.
                if image not in images:
                    images.append(image)
                break
    return [base64.b64encode(image).decode("ascii") for image in images]


def render(folder: Path, title: str = "newsdesk evaluation") -> str:
    reports = load_reports(folder)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p class='meta'>{len(reports)} reports from {html.escape(str(folder))}, {stamp}</p>",
    ]
    if not reports:
        parts.append("<p>No eval reports found: run <code>newsdesk eval ... --report</code>.</p>")
    for path, report in reports:
        name = str(path.relative_to(folder))
        parts.append(f"<h2>{html.escape(name)}</h2>")
        meta = [
            f"{k}: {report[k]}"
            for k in ("data", "split", "model", "llm_tokens_per_item")
            if report.get(k) is not None and report.get(k) != ""
        ]
        if meta:
            parts.append(f"<p class='meta'>{html.escape(' · '.join(map(str, meta)))}</p>")
        parts.append(_table(report_rows(report)))
        for title, rows in breakdowns(report):
            parts.append(f"<h3>{html.escape(title)}</h3>{_table(rows)}")
        changes = report.get("compared_with") or []
        if changes:
            items = "".join(f"<li>{html.escape(c)}</li>" for c in changes)
            parts.append(f"<ul class='changes'>{items}</ul>")
        chart = sentiment_chart(report)
        for image in ([chart] if chart else []) + _plots(path, report):
            parts.append(f"<img alt='{html.escape(name)}' src='data:image/png;base64,{image}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(folder: Path, out: Path | None = None) -> Path:
    out = out or folder / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(folder), encoding="utf-8")
    return out
