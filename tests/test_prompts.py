"""Prompts take their answer shape from the node's schema instead of restating it by hand."""

from __future__ import annotations

from typing import get_args

import pytest

from core.records import SentimentLabel
from graph.nodes.asset_tagging import AssetTaggingAnswer
from graph.nodes.dedup import SameEventAnswer
from graph.nodes.impact_reasoning import ImpactAnswer
from graph.nodes.sentiment import SentimentAnswer
from graph.nodes.spread_recommendation import SpreadAnswer
from graph.nodes.urgency import UrgencyAnswer
from prompts import answer_shape, load_prompt, node_prompt
from tests.conftest import REPO

NODE_SCHEMAS = {
    "asset_tagging": AssetTaggingAnswer,
    "gray_zone": SameEventAnswer,
    "impact_reasoning": ImpactAnswer,
    "sentiment": SentimentAnswer,
    "spread_recommendation": SpreadAnswer,
    "urgency": UrgencyAnswer,
}


@pytest.mark.parametrize("node", sorted(NODE_SCHEMAS))
def test_no_prompt_spells_out_a_json_shape(node: str) -> None:
    text = (REPO / "prompts" / f"{node}.md").read_text(encoding="utf-8")
    assert "$answer" in text and '{"' not in text


def test_the_answer_shape_follows_the_schema() -> None:
    labels = " | ".join(f'"{label}"' for label in get_args(SentimentLabel))
    assert answer_shape(SentimentAnswer) == (
        f'{{"label": {labels}, "score": number from -1 (very bearish) to 1 (very bullish), '
        '"confidence": number from 0 to 1}'
    )
    assert answer_shape(SpreadAnswer) == (
        '{"adjustments": [{"symbol": symbol, "factor": number, "rationale": sentence}]}'
    )
    assert answer_shape(SameEventAnswer) == '{"same_event": true | false}'


def test_a_node_prompt_carries_its_shape_and_values() -> None:
    prompt = node_prompt("asset_tagging", AssetTaggingAnswer, symbols="BTC, ETH")
    assert "BTC, ETH" in prompt
    assert answer_shape(AssetTaggingAnswer) in prompt
    with pytest.raises(KeyError):
        load_prompt("asset_tagging")  # every placeholder must be filled
