"""Asset catalog and relationship map for the news graph's tagging and impact nodes.

The catalog is hand-written data (``tools/data/assets.json``); this module only loads it,
validates it and answers two questions: which assets does a piece of text name, and which
assets does news about one asset spill over to.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).parent / "data" / "assets.json"

ASSET_CLASSES = ("crypto", "stablecoin", "equity", "etf", "index")
VOL_CLASSES = ("low", "medium", "high", "extreme")

# Short tickers collide with words and acronyms ("MS", "C", "OP"), so they need a cashtag.
MIN_BARE_SYMBOL_LEN = 3

# When one asset is found several ways, report the most explicit one.
_VIA_RANK = {"cashtag": 0, "symbol": 1, "alias": 2}

# "$btc" counts; "$5B" and "US$BTC" do not. Tickers are letters only in this catalog.
_CASHTAG_RE = re.compile(r"(?<![\w$])\$([A-Za-z]{1,10})(?![A-Za-z0-9])")


@dataclass(frozen=True)
class Asset:
    symbol: str
    name: str
    asset_class: str
    vol_class: str
    aliases: tuple[str, ...]
    case_sensitive_aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Relation:
    """News moving ``source`` spills over to ``target``."""

    source: str
    target: str
    kind: str
    strength: float
    sign: int
    note: str


@dataclass(frozen=True)
class AssetMatch:
    asset: Asset
    spans: tuple[str, ...]
    via: str  # "cashtag" | "symbol" | "alias" | "topic:<name>"
    strength: float  # 1.0 for direct mentions, the topic's strength for topics


@dataclass(frozen=True)
class Topic:
    """A keyword rule for macro/political items that name no ticker."""

    name: str
    patterns: tuple[re.Pattern[str], ...]
    requires: tuple[re.Pattern[str], ...]
    symbols: Mapping[str, float]

    def find(self, text: str) -> list[str]:
        """The spans that fire this topic, or [] when it does not apply."""
        spans = [m.group(0) for p in self.patterns for m in p.finditer(text)]
        if spans and self.requires and not any(r.search(text) for r in self.requires):
            return []
        return spans


def _bounded(pattern: str) -> str:
    # \b misbehaves next to non-word characters ("J.P. Morgan", "OPEC+"), so bound on "no
    # word character either side"; a leading "$" is left to the cashtag matcher.
    return rf"(?<![\w$])(?:{pattern})(?!\w)"


def _alias_regex(alias: str) -> str:
    # Feeds and tweets wrap and double-space freely; any whitespace run separates words.
    return r"\s+".join(re.escape(word) for word in alias.split())


def _alias_key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _compile_topic(raw: Mapping[str, Any]) -> Topic:
    def compile_all(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(_bounded(p), re.IGNORECASE) for p in patterns)

    return Topic(
        name=raw["name"],
        patterns=compile_all(raw["patterns"]),
        requires=compile_all(raw.get("requires", ())),
        symbols=dict(raw["symbols"]),
    )


class AssetCatalog:
    def __init__(
        self,
        assets: Iterable[Asset],
        relations: Iterable[Relation] = (),
        topics: Iterable[Topic] = (),
        symbol_stoplist: Iterable[str] = (),
    ) -> None:
        self._assets: dict[str, Asset] = {}
        for asset in assets:
            if asset.symbol in self._assets:
                raise ValueError(f"duplicate symbol {asset.symbol}")
            if asset.asset_class not in ASSET_CLASSES:
                raise ValueError(f"{asset.symbol}: unknown asset_class {asset.asset_class!r}")
            if asset.vol_class not in VOL_CLASSES:
                raise ValueError(f"{asset.symbol}: unknown vol_class {asset.vol_class!r}")
            self._assets[asset.symbol] = asset

        self.relations: tuple[Relation, ...] = tuple(relations)
        for rel in self.relations:
            for end in (rel.source, rel.target):
                if end not in self._assets:
                    raise ValueError(f"relation {rel.source}->{rel.target}: unknown {end}")
            if not 0.0 <= rel.strength <= 1.0 or rel.sign not in (1, -1):
                raise ValueError(f"relation {rel.source}->{rel.target}: bad strength/sign")

        self.topics: tuple[Topic, ...] = tuple(topics)
        for topic in self.topics:
            for symbol, strength in topic.symbols.items():
                if symbol not in self._assets or not 0.0 <= strength <= 1.0:
                    raise ValueError(f"topic {topic.name}: bad symbol/strength {symbol}")

        self._build_matchers(set(symbol_stoplist))

    def _build_matchers(self, stoplist: set[str]) -> None:
        # "$SQ"-style aliases are old or sibling tickers: valid only as cashtags.
        self._cashtags: dict[str, str] = {s: s for s in self._assets}
        self._alias_owner: dict[str, str] = {}
        alternatives: list[tuple[str, str]] = []  # (alias, regex) for the one alias pattern

        def claim(table: dict[str, str], key: str, symbol: str) -> None:
            owner = table.setdefault(key, symbol)
            if owner != symbol:
                raise ValueError(f"alias {key!r} names both {owner} and {symbol}")

        for asset in self._assets.values():
            for alias in asset.aliases + asset.case_sensitive_aliases:
                if alias.startswith("$"):
                    claim(self._cashtags, alias[1:].upper(), asset.symbol)
                    continue
                claim(self._alias_owner, _alias_key(alias), asset.symbol)
                regex = _alias_regex(alias)
                if alias not in asset.case_sensitive_aliases:
                    regex = f"(?i:{regex})"
                alternatives.append((alias, regex))

        # Longest first, so "Bitcoin Cash" wins over "Bitcoin" at the same position.
        alternatives.sort(key=lambda pair: len(pair[0]), reverse=True)
        self._alias_re = re.compile(_bounded("|".join(regex for _, regex in alternatives)))

        bare = sorted(
            (s for s in self._assets if len(s) >= MIN_BARE_SYMBOL_LEN and s not in stoplist),
            key=len,
            reverse=True,
        )
        # Case-sensitive on purpose: "sol", "Eth" and "Arb" in running text are not tickers.
        self._symbol_re = re.compile(rf"(?<![\w$])(?:{'|'.join(map(re.escape, bare))})(?!\w)")

    @classmethod
    def load(cls, path: Path | None = None) -> AssetCatalog:
        data = json.loads((path or DEFAULT_PATH).read_text(encoding="utf-8"))
        assets = [
            Asset(
                symbol=a["symbol"],
                name=a["name"],
                asset_class=a["asset_class"],
                vol_class=a["vol_class"],
                aliases=tuple(a.get("aliases", ())),
                case_sensitive_aliases=tuple(a.get("case_sensitive_aliases", ())),
            )
            for a in data["assets"]
        ]
        relations = [
            Relation(
                source=r["source"],
                target=r["target"],
                kind=r["kind"],
                strength=float(r["strength"]),
                sign=int(r["sign"]),
                note=r.get("note", ""),
            )
            for r in data.get("relations", ())
        ]
        topics = [_compile_topic(t) for t in data.get("topics", ())]
        return cls(assets, relations, topics, data.get("symbol_stoplist", ()))

    def get(self, symbol: str) -> Asset | None:
        return self._assets.get(symbol.upper())

    def vol_class(self, symbol: str) -> str:
        """The asset's volatility class; an unknown symbol gets the narrowest cap ("low")."""
        asset = self.get(symbol)
        return asset.vol_class if asset else "low"

    def symbols(self) -> list[str]:
        return sorted(self._assets)

    def related(self, symbol: str) -> list[Relation]:
        """Edges whose source is ``symbol``, strongest first."""
        symbol = symbol.upper()
        edges = [r for r in self.relations if r.source == symbol]
        return sorted(edges, key=lambda r: (-r.strength, r.target))

    def match(self, text: str) -> list[AssetMatch]:
        """Assets named in ``text`` (strength 1.0) plus those implied by topic rules."""
        direct: dict[str, tuple[str, list[str]]] = {}  # symbol -> (via, spans)

        def hit(symbol: str, via: str, span: str) -> None:
            best_via, spans = direct.setdefault(symbol, (via, []))
            if _VIA_RANK[via] < _VIA_RANK[best_via]:
                direct[symbol] = (via, spans)
            if span not in spans:
                spans.append(span)

        for m in _CASHTAG_RE.finditer(text):
            symbol = self._cashtags.get(m.group(1).upper())
            if symbol:
                hit(symbol, "cashtag", m.group(0))
        for m in self._symbol_re.finditer(text):
            hit(m.group(0), "symbol", m.group(0))
        for m in self._alias_re.finditer(text):
            hit(self._alias_owner[_alias_key(m.group(0))], "alias", m.group(0))

        matches = {
            symbol: AssetMatch(self._assets[symbol], tuple(spans), via, 1.0)
            for symbol, (via, spans) in direct.items()
        }
        # A direct mention always beats a topic; among topics the strongest wins.
        for topic in self.topics:
            spans = topic.find(text)
            if not spans:
                continue
            for symbol, strength in topic.symbols.items():
                current = matches.get(symbol)
                if current is None or current.strength < strength:
                    matches[symbol] = AssetMatch(
                        self._assets[symbol],
                        tuple(dict.fromkeys(spans)),
                        f"topic:{topic.name}",
                        strength,
                    )

        return sorted(matches.values(), key=lambda m: (-m.strength, m.asset.symbol))
