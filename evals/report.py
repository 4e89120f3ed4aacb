"""Printing eval reports as tables, and comparing a report with an earlier one."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

HEADLINE_KEYS = (
    "n",
    "precision",
    "recall",
    "f1",
    "llm_calls_saved",
    "accuracy",
    "weighted_f1",
    "macro_f1",
    "auc",
    "muddy_middle",
    "f1_at_threshold",
    "threshold",
    "best_f1",
    "best_threshold",
    # eval pairs with the pair verifier on the gray zone
    "verifier_auc",
    "verifier_best_f1",
    "verifier_call_share",
    "verifier_calls",
    "muddy_middle_after_verifier",
    "desk_precision",
    "desk_recall",
    "desk_f1",
    "failures",
    "latency_ms_per_item",
    "latency_ms_per_pair",
    # eval impact
    "n_widen",
    "n_rest",
    "mean_abs_move_widen",
    "mean_abs_move_rest",
    "lift",
    "lift_ci95",
    "skipped_no_price",
    # eval events
    "any_precision",
    "any_recall",
    "any_f1",
    "micro_f1",
    # eval tagging
    "precision_with_topics",
    "llm_tokens_per_item",
)


def report_rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One row per analyzer (sentiment) or a single row (pairs)."""
    if "analyzers" in report:
        return dict(report["analyzers"])
    return {"all": report}


def print_report(report: dict[str, Any], console: Console) -> None:
    rows = report_rows(report)
    keys = [k for k in HEADLINE_KEYS if any(k in r for r in rows.values())]
    table = Table(title=report.get("data", "eval"))
    table.add_column("")
    for key in keys:
        table.add_column(key)
    for name, values in rows.items():
        table.add_row(name, *(str(values.get(k, "")) for k in keys))
    console.print(table)
    for change in report.get("compared_with", []):
        console.print(f"  {change}")


def compare_reports(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """'classifier weighted_f1 0.7720 -> 0.8012 (+0.0292)' for every shared number."""
    changes = []
    old_rows, new_rows = report_rows(old), report_rows(new)
    for name, values in new_rows.items():
        for key in HEADLINE_KEYS:
            before, after = old_rows.get(name, {}).get(key), values.get(key)
            if isinstance(before, int | float) and isinstance(after, int | float):
                changes.append(f"{name} {key} {before} -> {after} ({after - before:+.4f})")
    return changes


def breakdowns(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The per-dataset, per-horizon and per-type rows a report carries, as printable tables."""
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
