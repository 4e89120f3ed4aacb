"""asset_tagging: which assets the item touches.

The catalog (cashtags, symbols, aliases, macro topics) is authoritative. When the LLM is
enabled for this node it may add assets, but only symbols the catalog knows: a model reading
untrusted text cannot invent a ticker for the desk to quote.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from core.records import TaggedAsset
from graph.deps import Deps
from graph.nodes._common import NodeFn, ask_llm, timed
from graph.state import NewsState
from tools.catalog import Asset

# An LLM-only tag is a weaker signal than a literal mention.
LLM_TAG_STRENGTH = 0.5


class AssetTaggingAnswer(BaseModel):
    symbols: list[str] = Field(
        default_factory=list, description="list of symbols from the list above"
    )


def tag(asset: Asset, **fields: Any) -> TaggedAsset:
    return TaggedAsset(
        symbol=asset.symbol,
        name=asset.name,
        asset_class=asset.asset_class,
        vol_class=asset.vol_class,
        **fields,
    )


def make_asset_tagging(deps: Deps) -> NodeFn:
    catalog = deps.catalog

    @timed("asset_tagging")
    def asset_tagging(state: NewsState) -> dict[str, Any]:
        body = state["item"].body
        tagged = [
            tag(m.asset, matched=list(m.spans), via=m.via, strength=m.strength)
            for m in catalog.match(body)
        ]
        update: dict[str, Any] = {}
        answer = ask_llm(
            deps,
            "asset_tagging",
            body,
            AssetTaggingAnswer,
            update,
            symbols=", ".join(catalog.symbols()),
        )
        llm_symbols = [s.upper().lstrip("$") for s in answer.symbols[:20]] if answer else []
        known = {t.symbol for t in tagged}
        for symbol in dict.fromkeys(llm_symbols):
            asset = catalog.get(symbol)
            if asset is not None and asset.symbol not in known:
                tagged.append(tag(asset, via="llm", strength=LLM_TAG_STRENGTH, source="llm"))
        return {**update, "assets": tagged}

    return asset_tagging
