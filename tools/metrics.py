"""Prometheus metrics of one desk process (serve, worker, run): scraped at /metrics.

The names are the operator's questions: how long each node takes, how far behind each queue
is, what share of the stream is copies, how many tokens the LLM spends, and how often a node
ran degraded or an input was refused. Counters only go up; PromQL turns them into rates and
ratios (dedup ratio = duplicates / all verdicts).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.exposition import generate_latest

# One registry per process, not prometheus_client's global one: a test can read exactly what
# the desk recorded, and the library's own process collectors stay out of the desk's page.
REGISTRY = CollectorRegistry()

NODE_SECONDS = Histogram(
    "newsdesk_node_seconds",
    "Wall time of one graph node run.",
    ["node"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
QUEUE_LAG = Gauge(
    "newsdesk_queue_lag",
    "Messages accepted but not yet acknowledged, per queue.",
    ["queue"],
    registry=REGISTRY,
)
VERDICTS = Counter(
    "newsdesk_dedup_verdicts",
    "Dedup verdicts, per verdict (unique, related, duplicate).",
    ["verdict"],
    registry=REGISTRY,
)
LLM_TOKENS = Counter(
    "newsdesk_llm_tokens",
    "Tokens sent to and received from the LLM.",
    ["direction"],
    registry=REGISTRY,
)
DEGRADED = Counter(
    "newsdesk_degraded",
    "Node runs that fell back to the non-LLM analyzer.",
    ["node"],
    registry=REGISTRY,
)
REJECTED = Counter(
    "newsdesk_rejected",
    "Inputs refused with a reason, per stage (intake, graph).",
    ["stage"],
    registry=REGISTRY,
)


def exposition() -> bytes:
    """The metrics page in Prometheus' text format."""
    return generate_latest(REGISTRY)


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """A /metrics listener on its own thread, for processes without an HTTP app (workers)."""
    start_http_server(port, addr=host, registry=REGISTRY)
