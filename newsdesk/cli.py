"""The `newsdesk` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from newsdesk.settings import Settings, get_settings

SAMPLE = Path(__file__).resolve().parent.parent / "tools" / "data" / "sample_news.jsonl"
console = Console(stderr=True)


def _open_runner(settings: Settings, with_llm: bool) -> Any:
    """Build the deps, the checkpointer and the compiled graph (imports are heavy: lazy)."""
    from contextlib import ExitStack

    from graph.deps import build_deps
    from graph.news_graph import build_news_graph
    from newsdesk.runner import Runner
    from tools.checkpoints import open_checkpointer

    if not with_llm:
        settings = settings.model_copy(update={"llm_provider": "none"})
    stack = ExitStack()
    deps = build_deps(settings)
    saver = stack.enter_context(open_checkpointer(settings.resolved_checkpoint_url))
    return stack, Runner(deps, build_news_graph(deps, saver))


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from newsdesk.runner import llm_server, run_records
    from tools.sources import read_records, replay

    source = Path(args.source)
    records = read_records(source, settings.max_text_chars, settings.max_line_bytes)
    console.print(f"[bold]newsdesk run[/] {source} ({len(records)} records, pace {args.pace})")
    with llm_server(settings) as server:
        if settings.manages_llm_server and server is None:
            console.print("[yellow]LLM server unavailable: LLM nodes will fall back (degraded)")
        stack, runner = _open_runner(settings, with_llm=True)
        with (
            stack,
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

            def advance(outcome: Any) -> None:
                progress.update(task, advance=1, last=f"{outcome.verdict:<9} {outcome.item_id}")

            report = run_records(runner, stream, str(source), on_outcome=advance)
    report_path = Path(args.report) if args.report else settings.data_dir / "run_report.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print_summary(report)
    console.print(f"report: {report_path}")
    return 0


def print_summary(report: dict[str, Any]) -> None:
    counts = Table(title="run summary", show_header=False)
    for key in (
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
    ):
        counts.add_row(key, str(report[key]))
    latency = report["latency_ms"]
    counts.add_row(
        "latency unique p50/p95 ms", f"{latency['unique_p50']} / {latency['unique_p95']}"
    )
    counts.add_row(
        "latency duplicate p50/p95 ms", f"{latency['duplicate_p50']} / {latency['duplicate_p95']}"
    )
    console.print(counts)
    top = Table(title="top material stories")
    for column in ("item", "headline", "urgency", "sentiment", "widen (bps / min / p)"):
        top.add_column(column, overflow="fold")
    for story in report["top_material"]:
        recs = ", ".join(
            f"{r['symbol']} {r['widen_bps']:.1f}/{r['horizon_minutes']}/{r['move_probability']:.2f}"
            for r in story["recommendations"][:4]
        )
        top.add_row(
            story["item_id"],
            story["headline"][:80],
            str(story["urgency"]),
            str(story["sentiment"]) + (" (degraded)" if story["degraded"] else ""),
            recs,
        )
    console.print(top)


def cmd_approvals(args: argparse.Namespace, settings: Settings) -> int:
    from graph.state import Decision
    from tools.slack import SlackNotifier

    stack, runner = _open_runner(settings, with_llm=False)
    with stack:
        store = runner.deps.store
        if args.action == "list":
            pending = store.list_approvals(None if args.all else "pending")
            table = Table(title="approvals")
            for column in ("item", "status", "requested", "expires", "headline", "widen"):
                table.add_column(column, overflow="fold")
            for a in pending:
                recs = a.summary.get("recommendations", [])
                table.add_row(
                    a.item_id,
                    a.status,
                    a.requested_at.strftime("%Y-%m-%d %H:%M:%S"),
                    a.expires_at.strftime("%H:%M:%S"),
                    str(a.summary.get("headline", ""))[:70],
                    ", ".join(f"{r['symbol']} {r['widen_bps']:.1f}bps" for r in recs[:3]),
                )
            Console().print(table)
            return 0
        approval = store.get_approval(args.item_id)
        if approval is None:
            console.print(f"[red]no approval for item {args.item_id}")
            return 2
        if approval.status != "pending":
            console.print(f"already decided: {approval.status} by {approval.decided_by}")
            return 1
        decision = Decision(
            decision=args.action, user=args.user, ts=datetime.now(UTC), note=args.note or ""
        )
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

    from newsdesk.runner import llm_server
    from serving.desk import Desk
    from serving.http_app import create_http_app
    from serving.slack_app import build_slack_app

    with llm_server(settings):
        desk = Desk(settings)
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


def cmd_overrides(args: argparse.Namespace, settings: Settings) -> int:
    from tools.db import Store

    store = Store(settings.resolved_database_url)
    try:
        store.migrate()
        active = store.active_overrides()
    finally:
        store.close()
    if args.json:
        print(json.dumps(active, indent=2))
        return 0
    table = Table(title=f"active spread overrides ({len(active)})")
    for column in ("asset", "bps", "from", "until", "approver", "item"):
        table.add_column(column)
    for o in active:
        table.add_row(
            o["asset"],
            f"{o['bps']:.1f}",
            o["starts_at"][:19],
            o["until"][:19],
            o["approver"],
            o["item_id"],
        )
    Console().print(table)
    return 0


def cmd_eval_html(args: argparse.Namespace, settings: Settings) -> int:
    from evals.html_report import write_html

    out = write_html(Path(args.reports), Path(args.out) if args.out else None)
    console.print(f"report: {out}")
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from evals.report import breakdowns, compare_reports, print_report

    if args.eval_command == "sentiment":
        from evals.sentiment_eval import evaluate_sentiment
        from evals.tables import parse_label_map
        from newsdesk.runner import llm_server

        analyzers = [a.strip() for a in args.analyzers.split(",") if a.strip()]
        with llm_server(
            settings if "llm" in analyzers else settings.model_copy(update={"llm_provider": "none"})
        ):
            with Progress(
                TextColumn("llm"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                disable="llm" not in analyzers,
            ) as progress:
                task = progress.add_task("llm", total=None)
                report = evaluate_sentiment(
                    Path(args.data),
                    args.text_field,
                    args.label_field,
                    settings,
                    analyzers=analyzers,
                    limit=args.limit,
                    label_map=parse_label_map(args.label_map),
                    numeric=args.numeric_score,
                    split=args.split,
                    progress=lambda done, total: progress.update(task, completed=done, total=total),
                )
    elif args.eval_command == "stream":
        from evals.stream_eval import evaluate_stream

        report = evaluate_stream(
            Path(args.data),
            args.text_field,
            args.time_field,
            args.group_field,
            settings,
            limit=args.limit,
        )
    elif args.eval_command in DESK_EVALS:
        report = run_desk_eval(args, settings)
    else:
        from evals.pairs_eval import evaluate_pairs

        report_path = Path(args.report) if args.report else None
        plot = (
            Path(args.plot)
            if args.plot
            else (report_path.with_suffix(".png") if report_path else None)
        )
        report = evaluate_pairs(
            Path(args.data),
            args.a,
            args.b,
            args.label,
            settings,
            limit=args.limit,
            label_cutoff=args.label_cutoff,
            plot=plot,
            model=args.model,
        )
    if args.compare:
        old_report = json.loads(Path(args.compare).read_text())
        report["compared_with"] = compare_reports(old_report, report)
        for title, rows in breakdowns(report):
            old_rows = dict(breakdowns(old_report)).get(title, {})
            report["compared_with"] += compare_reports({"analyzers": old_rows}, {"analyzers": rows})
    # Piped into a file, rich would fold the tables to 80 columns and cut the metric names.
    table_console = Console(width=None if sys.stdout.isatty() else 200)
    print_report(report, table_console)
    for title, rows in breakdowns(report):
        print_report({"data": title, "analyzers": rows}, table_console)
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(report, indent=2), encoding="utf-8")
        console.print(f"report: {args.report}")
    return 0


def cmd_finetune_embeddings(args: argparse.Namespace, settings: Settings) -> int:
    from evals.finetune_embeddings import finetune

    training = finetune(
        Path(args.out),
        settings,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        positives_per_story=args.positives_per_story,
        seed=args.seed,
        evaluate=not args.no_eval,
        recalibrate_only=args.recalibrate,
    )
    console.print(
        f"model: {args.out} (thresholds {training['thresholds']['unique']} / "
        f"{training['thresholds']['duplicate']}, {training['training_seconds']} s of training); "
        f"use it with NEWSDESK_EMBEDDING_MODEL={args.out}"
    )
    return 0


# --- eval impact / events / tagging --------------------------------------------------------
DESK_EVALS = ("impact", "events", "tagging")


def _dataset_progress() -> tuple[Progress, Any]:
    """A progress bar with one task per dataset, and the callback the evals report into."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    tasks: dict[str, Any] = {}

    def advance(name: str, done: int, total: int) -> None:
        if name not in tasks:
            tasks[name] = progress.add_task(name, total=total)
        progress.update(tasks[name], completed=done, total=total)

    return progress, advance


def _names(spec: str) -> list[str]:
    return [part.strip() for part in spec.split(",") if part.strip()]


def _need(args: argparse.Namespace, *names: str) -> None:
    missing = [f"--{n.replace('_', '-')}" for n in names if not getattr(args, n)]
    if missing:
        raise SystemExit(f"eval {args.eval_command} --data needs {' and '.join(missing)}")


def _impact(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from dataclasses import replace

    from evals.impact_eval import ImpactSource, evaluate_impact, preset_sources
    from newsdesk.runner import llm_server

    if args.data:
        _need(args, "text_field", "time_field")
        sources = [
            ImpactSource(
                name=Path(args.data).stem,
                data=Path(args.data),
                text_field=args.text_field,
                time_field=args.time_field,
                id_field=args.id_field,
                author=args.author,
                source=args.source_name,
                asset=args.asset,
                prices=Path(args.prices) if args.prices else None,
                price_time_field=args.price_time_field,
                price_field=args.price_field,
                bar_minutes=args.bar_minutes,
                max_staleness_minutes=args.max_staleness_minutes,
                entry_price_field=args.entry_price_field,
                exit_price_field=args.exit_price_field,
                naive_time_zone=args.time_zone,
            )
        ]
    else:
        sources = preset_sources(_names(args.preset))
        if args.asset:
            sources = [replace(s, asset=args.asset) for s in sources]
    horizons = [int(h) for h in _names(args.horizon_minutes)]
    llm_settings = settings if args.llm else settings.model_copy(update={"llm_provider": "none"})
    progress, advance = _dataset_progress()
    with llm_server(llm_settings), progress:
        return evaluate_impact(
            sources,
            llm_settings,
            horizons=horizons,
            limit=args.limit,
            with_llm=args.llm,
            resamples=args.bootstrap,
            seed=args.seed,
            progress=advance,
        )


def _events(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from evals.events_eval import evaluate_events

    progress, advance = _dataset_progress()
    with progress:
        return evaluate_events(
            Path(args.data) if args.data else None,
            args.text_field,
            args.labels_field,
            part=args.part,
            limit=args.limit,
            seed=args.seed,
            test_fraction=args.test_fraction,
            types=_names(args.types) if args.types else None,
            progress=lambda done, total: advance("sentences", done, total),
        )


def _tagging(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from evals.tagging_eval import TaggingSource, evaluate_tagging, preset_sources

    if args.data:
        _need(args, "text_field")
        sources = [
            TaggingSource(
                Path(args.data).stem,
                Path(args.data),
                args.text_field,
                symbols_field=args.symbols_field,
                gold_from_cashtags=args.gold_from_cashtags,
            )
        ]
    else:
        sources = preset_sources(_names(args.preset))
    progress, advance = _dataset_progress()
    with progress:
        return evaluate_tagging(
            sources, args.cashtag_mode, limit=args.limit, seed=args.seed, progress=advance
        )


def run_desk_eval(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    handlers = {"impact": _impact, "events": _events, "tagging": _tagging}
    return handlers[args.eval_command](args, settings)


def add_desk_eval_parsers(evals: Any) -> None:
    """`eval impact`, `eval events` and `eval tagging`: presets for the shared sets, or any file
    with field names (then --data and the fields replace the preset)."""
    impact = evals.add_parser("impact", help="do 'widen' posts precede larger price moves?")
    events = evals.add_parser("events", help="event-type tagger vs labelled event types")
    tagging = evals.add_parser("tagging", help="asset tagging vs tickers given by the data")
    for one in (impact, events, tagging):
        one.add_argument("--data", help="JSONL, CSV or TSV file (default: the shared sets)")
        one.add_argument("--limit", type=int, help="a seeded sample of N rows (per dataset)")
        one.add_argument("--seed", type=int, default=13)
        one.add_argument("--report", help="write the JSON report here")
        one.add_argument("--compare", help="a previous JSON report to compare with")
        one.set_defaults(handler=cmd_eval)

    impact.add_argument("--preset", default="musk,trump", help="musk (DOGE 1-min), trump (SPY)")
    impact.add_argument("--text-field")
    impact.add_argument("--time-field", help="ISO 8601 (offset honoured) or epoch s/ms")
    impact.add_argument("--time-zone", default="UTC", help="zone of times without an offset")
    impact.add_argument("--id-field")
    impact.add_argument("--author", help="author handle given to every post (reach matters)")
    impact.add_argument("--source-name", default="eval")
    impact.add_argument("--asset", help="priced symbol: widen means widening this one")
    impact.add_argument("--prices", help="price bars file (JSONL, CSV or TSV)")
    impact.add_argument("--price-time-field", default="timestamp", help="bar start time")
    impact.add_argument("--price-field", default="close")
    impact.add_argument(
        "--bar-minutes", type=float, default=1.0, help="bar length (0: instant prices, ticks)"
    )
    impact.add_argument(
        "--max-staleness-minutes",
        type=float,
        default=2.0,
        help="a bar older than this at either end of the horizon means no price: skipped",
    )
    impact.add_argument("--entry-price-field", help="price at the post, in the post's row")
    impact.add_argument("--exit-price-field", help="price at the horizon, in the post's row")
    impact.add_argument(
        "--horizon-minutes", default="30,15,5", help="comma-separated; the first is the headline"
    )
    impact.add_argument("--bootstrap", type=int, default=2000, help="resamples for the lift CI")
    impact.add_argument("--llm", action="store_true", help="run the LLM nodes too (slow on CPU)")

    events.add_argument("--text-field", default="sentence")
    events.add_argument("--labels-field", default="event_types", help="list or 'A,B' per row")
    events.add_argument("--part", choices=["test", "train", "all"], default="test")
    events.add_argument(
        "--test-fraction",
        type=float,
        default=0.3,
        help="the patterns were tuned with 0.3: another value mixes tuned rows into the test part",
    )
    events.add_argument("--types", help="event types to score (default: the ten SentiFM types)")

    tagging.add_argument("--preset", default="twitter,musk", help="twitter (cashtags), musk")
    tagging.add_argument("--text-field")
    tagging.add_argument("--symbols-field", help="column holding the true symbols")
    tagging.add_argument(
        "--gold-from-cashtags", action="store_true", help="true symbols = catalog cashtags"
    )
    tagging.add_argument(
        "--cashtag-mode",
        choices=["bare", "remove", "keep"],
        default="bare",
        help="what the tagger sees of a $TAG: the bare TAG, nothing, or the cashtag",
    )


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

    overrides = sub.add_parser("overrides", help="active spread overrides (approved widenings)")
    overrides.add_argument("--json", action="store_true")
    overrides.set_defaults(handler=cmd_overrides)

    evaluate = sub.add_parser("eval", help="measure the desk on labelled data")
    evals = evaluate.add_subparsers(dest="eval_command", required=True)
    page = evals.add_parser("html", help="all JSON reports in a folder on one HTML page")
    page.add_argument("--reports", required=True, help="folder of eval JSON reports (recursive)")
    page.add_argument("--out", help="HTML path (default: REPORTS/report.html)")
    page.set_defaults(handler=cmd_eval_html)
    for name in ("sentiment", "pairs", "stream"):
        one = evals.add_parser(name)
        one.add_argument("--data", required=True, help="JSONL, CSV or TSV file")
        one.add_argument("--limit", type=int, help="a seeded sample of N rows")
        one.add_argument("--report", help="write the JSON report here")
        one.add_argument("--compare", help="a previous JSON report to compare with")
        one.set_defaults(handler=cmd_eval)
        if name == "sentiment":
            one.add_argument("--text-field", required=True)
            one.add_argument("--label-field", required=True)
            one.add_argument("--label-map", help="e.g. 0=bearish,1=bullish,2=neutral")
            one.add_argument(
                "--numeric-score",
                action="store_true",
                help="labels are scores in [-1, 1], mapped by sign",
            )
            one.add_argument(
                "--analyzers", default="lexicon,embedding_logreg,classifier,llm,ensemble"
            )
            one.add_argument(
                "--split",
                choices=["twitter-heldout", "fpb-heldout"],
                help="only the rows the committed models never trained on (for those files)",
            )
        elif name == "stream":
            one.add_argument("--text-field", required=True)
            one.add_argument("--time-field", required=True, help="ISO 8601 or epoch s/ms")
            one.add_argument("--group-field", required=True, help="story / cluster id")
        else:
            one.add_argument("--a", required=True, help="field of the first text")
            one.add_argument("--b", required=True, help="field of the second text")
            one.add_argument("--label", required=True, help="field of the 1/0 duplicate label")
            one.add_argument(
                "--label-cutoff",
                type=float,
                help="graded scores: duplicate when score >= cutoff (STS-B: 4)",
            )
            one.add_argument("--plot", help="PNG path (default: beside the report)")
            one.add_argument("--model", help="embedding model directory (default: settings)")

    tune = sub.add_parser(
        "finetune-embeddings",
        help="fine-tune the dedup embeddings on the shared pair data and recalibrate thresholds",
    )
    tune.add_argument("--out", default="var/models/minilm-news", help="model directory")
    tune.add_argument("--epochs", type=int, default=1)
    tune.add_argument("--lr", type=float, default=3e-5)
    tune.add_argument("--batch-size", type=int, default=32)
    tune.add_argument("--positives-per-story", type=int, default=20)
    tune.add_argument("--seed", type=int, default=13)
    tune.add_argument("--no-eval", action="store_true", help="skip the before/after evaluation")
    tune.add_argument(
        "--recalibrate",
        action="store_true",
        help="keep the trained model in --out: recalibrate its thresholds and evaluate again",
    )
    tune.set_defaults(handler=cmd_finetune_embeddings)

    add_desk_eval_parsers(evals)

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
