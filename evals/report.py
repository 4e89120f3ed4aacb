"""Printing eval reports as tables, and comparing a report with an earlier one.

The columns are each row's headline numbers, as its model in `core.eval_reports` marks them.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.table import Table

from core.eval_reports import EvalReport, Scores


def print_table(title: str, rows: Mapping[str, Scores], console: Console) -> None:
    numbers = {name: row.headline_numbers() for name, row in rows.items()}
    # Rows of one table may differ (the ensemble has no failures): every key any row has.
    keys = list(dict.fromkeys(key for values in numbers.values() for key in values))
    table = Table(title=title)
    table.add_column("")
    for key in keys:
        table.add_column(key)
    for name, values in numbers.items():
        table.add_row(name, *(str(values.get(k, "")) for k in keys))
    console.print(table)


def print_report(report: EvalReport, console: Console) -> None:
    """The main table, the comparison lines, then one table per breakdown."""
    print_table(report.data, report.rows(), console)
    for change in report.compared_with:
        console.print(f"  {change}")
    for title, rows in report.breakdowns():
        print_table(title, rows, console)


def compare_rows(old: Mapping[str, Scores], new: Mapping[str, Scores]) -> list[str]:
    changes = []
    for name, row in new.items():
        before_row = old[name].headline_numbers() if name in old else {}
        for key, after in row.headline_numbers().items():
            before = before_row.get(key)
            if isinstance(before, int | float) and isinstance(after, int | float):
                changes.append(f"{name} {key} {before} -> {after} ({after - before:+.4f})")
    return changes


def compare_reports(old: EvalReport, new: EvalReport) -> list[str]:
    """'classifier weighted_f1 0.7720 -> 0.8012 (+0.0292)' for every headline number both
    reports have, in the main table and in each breakdown both have."""
    changes = compare_rows(old.rows(), new.rows())
    old_breakdowns = dict(old.breakdowns())
    for title, rows in new.breakdowns():
        changes += compare_rows(old_breakdowns.get(title, {}), rows)
    return changes
