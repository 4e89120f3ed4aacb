"""The `newsdesk` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.reports import Outcome, RunReport
from core.settings import Settings, get_settings
from evals.cli import add_eval_parsers

SAMPLE = Path(__file__).resolve().parent.parent / "tools" / "data" / "sample_news.jsonl"
console = Console(stderr=True)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from graph.runner import open_runner, run_records
    from serving.llama_server import llm_server
    from tools.sources import read_records, replay

    source = Path(args.source)
    records = read_records(source, settings.max_text_chars, settings.max_line_bytes)
    console.print(f"[bold]newsdesk run[/] {source} ({len(records)} records, pace {args.pace})")
    with llm_server(settings) as server:
        if settings.manages_llm_server and server is None:
            console.print("[yellow]LLM server unavailable: LLM nodes will fall back (degraded)")
        with (
            open_runner(settings) as runner,
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[last]}"),
                console=console,
                disable=args.quiet,
            ) as progress,
        ):
            task = progress.add_task("items", total=len(records), last="")
            stream = replay(records, pace=args.pace, speed=args.speed, max_gap_s=args.max_gap)

            def advance(outcome: Outcome) -> None:
                progress.update(task, advance=1, last=f"{outcome.verdict:<9} {outcome.item_id}")

            report = run_records(runner, stream, str(source), on_outcome=advance)
    report_path = Path(args.report) if args.report else settings.data_dir / "run_report.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    print_summary(report)
    console.print(f"report: {report_path}")
    return 0


# The counts the summary table shows, in this order.
SUMMARY_COUNTS = (
    "items",
    "rejected",
    "duplicates",
    "related",
    "unique",
    "material",
    "routine",
    "pending_approvals",
    "degraded",
    "llm_calls",
    "llm_calls_on_duplicates",
    "recommendations_out_of_bounds",
    "items_per_minute",
)


def print_summary(report: RunReport) -> None:
    counts = Table(title="run summary", show_header=False)
    for key in SUMMARY_COUNTS:
        counts.add_row(key, str(getattr(report, key)))
    latency = report.latency_ms
    counts.add_row("latency unique p50/p95 ms", f"{latency.unique_p50} / {latency.unique_p95}")
    counts.add_row(
        "latency duplicate p50/p95 ms", f"{latency.duplicate_p50} / {latency.duplicate_p95}"
    )
    console.print(counts)
    top = Table(title="top material stories")
    for column in ("item", "headline", "urgency", "sentiment", "widen (bps / min / p)"):
        top.add_column(column, overflow="fold")
    for story in report.top_material:
        recs = ", ".join(
            f"{r.symbol} {r.widen_bps:.1f}/{r.horizon_minutes}/{r.move_probability:.2f}"
            for r in story.recommendations[:4]
        )
        top.add_row(
            story.item_id,
            story.headline[:80],
            str(story.urgency),
            str(story.sentiment) + (" (degraded)" if story.degraded else ""),
            recs,
        )
    console.print(top)


def list_approvals(settings: Settings, include_decided: bool) -> None:
    from tools.db import Store

    store = Store(settings.resolved_database_url)
    try:
        store.migrate()
        approvals = store.list_approvals(None if include_decided else "pending")
    finally:
        store.close()
    now = datetime.now(UTC)
    table = Table(title="approvals")
    for column in ("item", "status", "requested", "expires", "headline", "widen"):
        table.add_column(column, overflow="fold")
    for a in approvals:
        table.add_row(
            a.item_id,
            a.status_at(now),
            a.requested_at.strftime("%Y-%m-%d %H:%M:%S"),
            a.expires_at.strftime("%H:%M:%S"),
            a.summary.headline[:70],
            ", ".join(f"{r.symbol} {r.widen_bps:.1f}bps" for r in a.summary.recommendations[:3]),
        )
    Console().print(table)


def cmd_approvals(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "list":
        list_approvals(settings, include_decided=args.all)
        return 0

    from core.records import Decision
    from graph.runner import open_runner
    from tools.slack import SlackNotifier

    with open_runner(settings.model_copy(update={"llm_provider": "none"})) as runner:
        store = runner.deps.store
        approval = store.get_approval(args.item_id)
        if approval is None:
            console.print(f"[red]no approval for item {args.item_id}")
            return 2
        if approval.status != "pending":
            console.print(f"already decided: {approval.status} by {approval.decided_by}")
            return 1
        decision = Decision(decision=args.action, user=args.user, note=args.note or "")
        runner.resume(args.item_id, decision)
        after = store.get_approval(args.item_id)
        notifier = runner.deps.notifier
        if after is not None and isinstance(notifier, SlackNotifier):
            # The story's Slack message must not keep offering buttons decided elsewhere.
            notifier.show_decision(after)
        console.print(f"{args.item_id}: {after.status if after else '?'} by {args.user}")
        return 0 if after and after.status in {"approved", "rejected"} else 1


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from serving.desk import Desk
    from serving.http_app import create_http_app
    from serving.llama_server import llm_server
    from serving.slack_app import build_slack_app
    from tools.queues import BusUnavailable

    with llm_server(settings):
        try:
            desk = Desk(settings)
        except BusUnavailable as exc:
            console.print(f"[red]the bus is unavailable: {exc}")
            return 2
        try:
            notifier = desk.slack_notifier
            slack_app = (
                build_slack_app(settings, desk, notifier)
                if notifier is not None and settings.slack_signing_secret
                else None
            )
            if slack_app is not None and settings.slack_app_token:
                from slack_bolt.adapter.socket_mode import SocketModeHandler

                # Socket Mode: Slack connects out to us; no public interactivity URL needed.
                SocketModeHandler(slack_app, settings.slack_app_token).connect()
            slack_state = (
                "on"
                if slack_app
                else "off: set SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, NEWSDESK_SLACK_CHANNEL"
            )
            console.print(f"newsdesk serve on http://{args.host}:{args.port} (Slack {slack_state})")
            uvicorn.run(
                create_http_app(desk, slack_app),
                host=args.host,
                port=args.port,
                log_level="warning",
            )
        finally:
            desk.close()
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    import signal
    import threading

    from serving.analysts import run_pool, run_worker
    from serving.llama_server import llm_server
    from tools.queues import BusUnavailable

    if args.processes < 1:
        console.print("[red]--processes must be at least 1")
        return 2
    stop = threading.Event()
    # SIGTERM (the pool, systemd, docker stop) or Ctrl-C: finish the item in hand, then exit.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if args.processes > 1:
        child = [sys.executable, "-m", "newsdesk.cli", *(["-v"] if args.verbose else [])]
        child += ["worker", "--processes", "1"]
        bus = settings.bus_url or "the database inbox"
        console.print(f"newsdesk worker: a pool of {args.processes} on {bus}")
        return run_pool(settings, args.processes, child, stop)
    with llm_server(settings):
        try:
            run_worker(settings, stop)
        except BusUnavailable as exc:
            console.print(f"[red]the bus is unavailable: {exc}")
            return 2
    return 0


def cmd_overrides(args: argparse.Namespace, settings: Settings) -> int:
    from tools.db import Store

    store = Store(settings.resolved_database_url)
    try:
        store.migrate()
        active = store.active_overrides()
    finally:
        store.close()
    if args.json:
        print(json.dumps([o.as_dict() for o in active], indent=2))
        return 0
    table = Table(title=f"active spread overrides ({len(active)})")
    for column in ("asset", "bps", "from", "until", "approver", "item"):
        table.add_column(column)
    for o in active:
        table.add_row(
            o.asset,
            f"{o.bps:.1f}",
            f"{o.starts_at:%Y-%m-%d %H:%M:%S}",
            f"{o.until:%Y-%m-%d %H:%M:%S}",
            o.approver,
            o.item_id,
        )
    Console().print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsdesk", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="replay a source file through the news graph")
    run.add_argument("--source", default=str(SAMPLE), help="JSONL or CSV of items")
    run.add_argument("--pace", choices=["max", "realtime"], default="max")
    run.add_argument("--speed", type=float, default=1.0, help="realtime speed-up factor")
    run.add_argument("--max-gap", type=float, default=5.0, help="cap on one realtime wait (s)")
    run.add_argument("--report", help="JSON run report path (default DATA_DIR/run_report.json)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=cmd_run)

    serve = sub.add_parser("serve", help="Slack app, ingest endpoint and health check")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(handler=cmd_serve)

    worker = sub.add_parser(
        "worker", help="analyse unique stories from the bus's work queue (one of a pool)"
    )
    worker.add_argument(
        "--processes",
        type=int,
        default=1,
        help="start this many workers sharing one model server (one pool per machine)",
    )
    worker.set_defaults(handler=cmd_worker)

    overrides = sub.add_parser("overrides", help="active spread overrides (approved widenings)")
    overrides.add_argument("--json", action="store_true")
    overrides.set_defaults(handler=cmd_overrides)

    add_eval_parsers(sub)

    approvals = sub.add_parser("approvals", help="list or decide stories awaiting approval")
    actions = approvals.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list")
    listing.add_argument("--all", action="store_true", help="include decided ones")
    for action in ("approve", "reject"):
        decide = actions.add_parser(action)
        decide.add_argument("item_id")
        decide.add_argument("--user", default="cli")
        decide.add_argument("--note")
    approvals.set_defaults(handler=cmd_approvals)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return int(args.handler(args, settings))


if __name__ == "__main__":
    sys.exit(main())
