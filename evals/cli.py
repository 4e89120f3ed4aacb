"""`newsdesk eval ...` and `newsdesk finetune-embeddings`: one handler per sub-command.

Every eval prints its report as tables, can compare it with an earlier report and writes it as
JSON. The heavy modules (models, the graph) load inside the handlers, so `newsdesk --help` and
the desk's other commands never pay for them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core.eval_reports import EvalReport
from core.settings import Settings

console = Console(stderr=True)

DatasetProgress = Callable[[str, int, int], None]


def _names(spec: str) -> list[str]:
    return [part.strip() for part in spec.split(",") if part.strip()]


def _need(args: argparse.Namespace, *names: str) -> None:
    missing = [f"--{n.replace('_', '-')}" for n in names if not getattr(args, n)]
    if missing:
        raise SystemExit(f"eval {args.eval_command} --data needs {' and '.join(missing)}")


def _without_llm(settings: Settings) -> Settings:
    return settings.model_copy(update={"llm_provider": "none"})


@contextmanager
def dataset_progress() -> Iterator[DatasetProgress]:
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

    with progress:
        yield advance


def finish(args: argparse.Namespace, report: EvalReport) -> int:
    """Compare with an earlier report, print the tables and write the JSON report."""
    from pydantic import ValidationError

    from evals.report import compare_reports, print_report

    if args.compare:
        kind = type(report)
        try:
            old_report = kind.model_validate_json(Path(args.compare).read_text(encoding="utf-8"))
        except ValidationError as error:
            raise SystemExit(f"--compare {args.compare}: not a {kind.__name__}: {error}") from None
        report.compared_with = compare_reports(old_report, report)
    # Piped into a file, rich would fold the tables to 80 columns and cut the metric names.
    print_report(report, Console(width=None if sys.stdout.isatty() else 200))
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(report.to_json(), encoding="utf-8")
        console.print(f"report: {args.report}")
    return 0


def eval_sentiment(args: argparse.Namespace, settings: Settings) -> int:
    from evals.sentiment_eval import evaluate_sentiment
    from evals.tables import parse_label_map
    from serving.llama_server import llm_server

    analyzers = _names(args.analyzers)
    with_llm = "llm" in analyzers
    with (
        llm_server(settings if with_llm else _without_llm(settings)),
        Progress(
            TextColumn("llm"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not with_llm,
        ) as progress,
    ):
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
    return finish(args, report)


def eval_pairs(args: argparse.Namespace, settings: Settings) -> int:
    from evals.pairs_eval import evaluate_pairs

    report_path = Path(args.report) if args.report else None
    plot = (
        Path(args.plot) if args.plot else (report_path.with_suffix(".png") if report_path else None)
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
    return finish(args, report)


def eval_stream(args: argparse.Namespace, settings: Settings) -> int:
    from evals.stream_eval import evaluate_stream

    report = evaluate_stream(
        Path(args.data),
        args.text_field,
        args.time_field,
        args.group_field,
        settings,
        limit=args.limit,
    )
    return finish(args, report)


def eval_impact(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import replace

    from evals.impact_eval import ImpactSource, evaluate_impact, preset_sources
    from serving.llama_server import llm_server

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
    llm_settings = settings if args.llm else _without_llm(settings)
    with llm_server(llm_settings), dataset_progress() as advance:
        report = evaluate_impact(
            sources,
            llm_settings,
            horizons=[int(h) for h in _names(args.horizon_minutes)],
            limit=args.limit,
            with_llm=args.llm,
            resamples=args.bootstrap,
            seed=args.seed,
            progress=advance,
        )
    return finish(args, report)


def eval_events(args: argparse.Namespace, settings: Settings) -> int:
    from evals.events_eval import evaluate_events

    with dataset_progress() as advance:
        report = evaluate_events(
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
    return finish(args, report)


def eval_tagging(args: argparse.Namespace, settings: Settings) -> int:
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
    with dataset_progress() as advance:
        report = evaluate_tagging(
            sources, args.cashtag_mode, limit=args.limit, seed=args.seed, progress=advance
        )
    return finish(args, report)


def eval_html(args: argparse.Namespace, settings: Settings) -> int:
    from evals.html_report import write_html

    out = write_html(Path(args.reports), Path(args.out) if args.out else None)
    console.print(f"report: {out}")
    return 0


def finetune_embeddings(args: argparse.Namespace, settings: Settings) -> int:
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


def _common(one: argparse.ArgumentParser, data_required: bool) -> None:
    if data_required:
        one.add_argument("--data", required=True, help="JSONL, CSV or TSV file")
    else:
        one.add_argument("--data", help="JSONL, CSV or TSV file (default: the shared sets)")
    one.add_argument("--limit", type=int, help="a seeded sample of N rows (per dataset)")
    one.add_argument("--report", help="write the JSON report here")
    one.add_argument("--compare", help="a previous JSON report to compare with")


def add_eval_parsers(sub: Any) -> None:
    """`newsdesk eval <name>` for every eval, and `newsdesk finetune-embeddings`."""
    evaluate = sub.add_parser("eval", help="measure the desk on labelled data")
    evals = evaluate.add_subparsers(dest="eval_command", required=True)

    page = evals.add_parser("html", help="all JSON reports in a folder on one HTML page")
    page.add_argument("--reports", required=True, help="folder of eval JSON reports (recursive)")
    page.add_argument("--out", help="HTML path (default: REPORTS/report.html)")
    page.set_defaults(handler=eval_html)

    sentiment = evals.add_parser("sentiment", help="sentiment analyzers vs labelled texts")
    _common(sentiment, data_required=True)
    sentiment.add_argument("--text-field", required=True)
    sentiment.add_argument("--label-field", required=True)
    sentiment.add_argument("--label-map", help="e.g. 0=bearish,1=bullish,2=neutral")
    sentiment.add_argument(
        "--numeric-score", action="store_true", help="labels are scores in [-1, 1], mapped by sign"
    )
    sentiment.add_argument(
        "--analyzers", default="lexicon,embedding_logreg,classifier,llm,ensemble"
    )
    sentiment.add_argument(
        "--split",
        choices=["twitter-heldout", "fpb-heldout"],
        help="only the rows the committed models never trained on (for those files)",
    )
    sentiment.set_defaults(handler=eval_sentiment)

    pairs = evals.add_parser("pairs", help="dedup similarity vs labelled text pairs")
    _common(pairs, data_required=True)
    pairs.add_argument("--a", required=True, help="field of the first text")
    pairs.add_argument("--b", required=True, help="field of the second text")
    pairs.add_argument("--label", required=True, help="field of the 1/0 duplicate label")
    pairs.add_argument(
        "--label-cutoff",
        type=float,
        help="graded scores: duplicate when score >= cutoff (STS-B: 4)",
    )
    pairs.add_argument("--plot", help="PNG path (default: beside the report)")
    pairs.add_argument("--model", help="embedding model directory (default: settings)")
    pairs.set_defaults(handler=eval_pairs)

    stream = evals.add_parser("stream", help="the dedup node replayed over a labelled stream")
    _common(stream, data_required=True)
    stream.add_argument("--text-field", required=True)
    stream.add_argument("--time-field", required=True, help="ISO 8601 or epoch s/ms")
    stream.add_argument("--group-field", required=True, help="story / cluster id")
    stream.set_defaults(handler=eval_stream)

    _add_desk_eval_parsers(evals)

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
    tune.set_defaults(handler=finetune_embeddings)


def _add_desk_eval_parsers(evals: Any) -> None:
    """`eval impact`, `eval events` and `eval tagging`: presets for the shared sets, or any file
    with field names (then --data and the fields replace the preset)."""
    impact = evals.add_parser("impact", help="do 'widen' posts precede larger price moves?")
    events = evals.add_parser("events", help="event-type tagger vs labelled event types")
    tagging = evals.add_parser("tagging", help="asset tagging vs tickers given by the data")
    for one, handler in ((impact, eval_impact), (events, eval_events), (tagging, eval_tagging)):
        _common(one, data_required=False)
        one.add_argument("--seed", type=int, default=13)
        one.set_defaults(handler=handler)

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
