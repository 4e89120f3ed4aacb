"""asset_tagging: which assets the item touches.

The catalog (cashtags, symbols, aliases, macro topics) is authoritative. When the LLM is
enabled for this node it may add assets, but only symbols the catalog knows: a model reading
untrusted text cannot invent a ticker for the desk to quote.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from graph.deps import Deps
from graph.nodes._common import NodeFn, fallback_note, timed
from graph.state import NewsState, TaggedAsset
from prompts import load_prompt
from tools.llm import LLMError

# An LLM-only tag is a weaker signal than a literal mention.
LLM_TAG_STRENGTH = 0.5


class AssetTaggingAnswer(BaseModel):
    symbols: list[str] = Field(default_factory=list, max_length=20)


def make_asset_tagging(deps: Deps) -> NodeFn:
    catalog = deps.catalog

    @timed("asset_tagging")
    def asset_tagging(state: NewsState) -> dict[str, Any]:
        body = state["item"].body
        tagged = [
            TaggedAsset(
                symbol=m.asset.symbol,
                name=m.asset.name,
                asset_class=m.asset.asset_class,
                vol_class=m.asset.vol_class,
                matched=list(m.spans),
                via=m.via,
                strength=m.strength,
            )
            for m in catalog.match(body)
        ]
        update: dict[str, Any] = {}
        llm = deps.llm_for("asset_tagging")
        if llm is not None:
            update["llm_calls"] = 1
            try:
                answer = llm.structured(
                    load_prompt("system"),
                    body,
                    load_prompt("asset_tagging", symbols=", ".join(catalog.symbols())),
                    AssetTaggingAnswer,
                )
                known = {t.symbol for t in tagged}
                for symbol in dict.fromkeys(s.upper().lstrip("$") for s in answer.symbols):
                    asset = catalog.get(symbol)
                    if asset is not None and symbol not in known:
                        tagged.append(
                            TaggedAsset(
                                symbol=asset.symbol,
                                name=asset.name,
                                asset_class=asset.asset_class,
                                vol_class=asset.vol_class,
                                via="llm",
                                strength=LLM_TAG_STRENGTH,
                                source="llm",
                            )
                        )
            except LLMError as exc:
                update.update(fallback_note("asset_tagging", exc))
        return {**update, "assets": tagged}

    return asset_tagging
