"""Asset catalog: matching on real-style headlines, relation map integrity, real-data recall."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from tools.catalog import VOL_CLASSES, AssetCatalog


@pytest.fixture(scope="module")
def catalog() -> AssetCatalog:
    return AssetCatalog.load()


def symbols(catalog: AssetCatalog, text: str, direct_only: bool = False) -> set[str]:
    return {
        m.asset.symbol
        for m in catalog.match(text)
        if not direct_only or not m.via.startswith("topic:")
    }


# --- direct mentions -----------------------------------------------------------------------


def test_cashtags(catalog: AssetCatalog) -> None:
    matches = catalog.match("$BTC and $ETH surge after ETF approval")
    assert {m.asset.symbol for m in matches} >= {"BTC", "ETH"}
    by_symbol = {m.asset.symbol: m for m in matches}
    assert by_symbol["BTC"].via == "cashtag"
    assert by_symbol["BTC"].strength == 1.0
    assert "$BTC" in by_symbol["BTC"].spans


def test_cashtag_is_case_insensitive_but_only_for_catalog_symbols(catalog: AssetCatalog) -> None:
    assert symbols(catalog, "loading up on $tsla and $nvda") == {"TSLA", "NVDA"}
    assert symbols(catalog, "$BYND - Beyond Meat falls 5%") == set()
    # Dollar amounts are not cashtags.
    assert symbols(catalog, "Raises $5B in new funding round") == set()


def test_cashtag_aliases_cover_old_tickers(catalog: AssetCatalog) -> None:
    assert symbols(catalog, "$SQ beats on Cash App gross profit") == {"XYZ"}
    assert symbols(catalog, "$FB slides after earnings") == {"META"}
    assert symbols(catalog, "$MATIC holders migrate to POL") == {"POL"}
    # ...but the old ticker is not a bare-word alias.
    assert "XYZ" not in symbols(catalog, "The house is 2,000 sq ft")


def test_company_and_coin_names(catalog: AssetCatalog) -> None:
    assert "COIN" in symbols(catalog, "Coinbase hacked")
    assert symbols(catalog, "Dogecoin to the moon") == {"DOGE"}
    assert symbols(catalog, "Nvidia beats estimates as data-center revenue doubles") == {"NVDA"}
    assert symbols(catalog, "MicroStrategy buys another 5,000 bitcoin") == {"MSTR", "BTC"}
    assert symbols(catalog, "Rosenblatt warns of drop in Apple iPhone production") == {"AAPL"}


def test_longest_alias_wins(catalog: AssetCatalog) -> None:
    assert symbols(catalog, "Bitcoin Cash rallies 12%") == {"BCH"}
    assert symbols(catalog, "Ethereum Classic hit by 51% attack") == {"ETC"}


def test_bare_tickers(catalog: AssetCatalog) -> None:
    by_symbol = {m.asset.symbol: m for m in catalog.match("XRP and SOL lead gains; ETH lags")}
    assert set(by_symbol) == {"XRP", "SOL", "ETH"}
    assert by_symbol["SOL"].via == "symbol"


def test_bare_tickers_that_are_words_need_a_cashtag(catalog: AssetCatalog) -> None:
    # DOGE is also the Department of Government Efficiency; COIN, HOOD, LINK are words.
    assert symbols(catalog, "DOGE cuts 10,000 federal jobs") == set()
    assert symbols(catalog, "CLICK THE LINK TO CLAIM YOUR COIN") == set()
    assert symbols(catalog, "$DOGE pumps after Musk post") == {"DOGE"}
    assert symbols(catalog, "$LINK and $HOOD rally") == {"LINK", "HOOD"}
    # Two-letter tickers never match bare.
    assert symbols(catalog, "OP said MS Word crashed") == set()


# --- false positives -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "He SAID the market would hold up",
        "Ethics committee opens probe into senator",
        "I sold my stocks before the solution was announced",
        "Investor optimism returns as stocks rebound",
        "Shoppers pay more for apple pie ahead of Thanksgiving",
        "She said the block party was a success",
        "The company's strategy is to grow margins",
        "A new meta-analysis finds no link between coffee and cancer",
    ],
)
def test_no_false_positives(catalog: AssetCatalog, text: str) -> None:
    assert symbols(catalog, text) == set()


def test_case_sensitive_aliases(catalog: AssetCatalog) -> None:
    # Known limit: a capitalised common word at sentence start ("Apple pie ...") still matches.
    assert symbols(catalog, "Meta unveils new AI glasses") == {"META"}
    assert symbols(catalog, "Intel to cut 15% of workforce") == {"INTC"}
    assert symbols(catalog, "new intel suggests a deal is near") == set()
    assert symbols(catalog, "Ripple wins partial victory over SEC", direct_only=True) == {"XRP"}
    assert symbols(catalog, "a ripple effect across markets") == set()


# --- topics --------------------------------------------------------------------------------


def test_tariff_topic(catalog: AssetCatalog) -> None:
    matches = {m.asset.symbol: m for m in catalog.match("Trump announces 25% tariffs on imports")}
    assert matches["SPY"].via == "topic:tariffs"
    assert 0 < matches["SPY"].strength < 1
    assert matches["BTC"].strength < matches["SPY"].strength


def test_fed_topic_and_case_pinned_patterns(catalog: AssetCatalog) -> None:
    assert {"SPY", "TLT", "BTC"} <= symbols(catalog, "Powell signals rate cut at next FOMC")
    assert "TLT" in symbols(catalog, "Fed holds rates steady")
    assert symbols(catalog, "Traders fed up with low volume") == set()


def test_sec_topic_needs_crypto_context(catalog: AssetCatalog) -> None:
    assert {"BTC", "ETH"} <= symbols(catalog, "SEC delays decision on crypto ETFs")
    assert symbols(catalog, "SEC fines auditor over accounting lapses") == set()


def test_stablecoin_regulation_topic(catalog: AssetCatalog) -> None:
    found = symbols(catalog, "Senate passes stablecoin bill")
    assert {"USDT", "USDC", "COIN"} <= found


def test_hack_topic_is_weak_and_direct_mention_wins(catalog: AssetCatalog) -> None:
    matches = {m.asset.symbol: m for m in catalog.match("Binance hacked, $40M drained")}
    assert matches["BNB"].via == "alias" and matches["BNB"].strength == 1.0
    assert matches["BTC"].via == "topic:crypto_hack" and matches["BTC"].strength <= 0.5


def test_match_is_sorted_by_strength_then_symbol(catalog: AssetCatalog) -> None:
    matches = catalog.match("Tesla falls as tariffs and Fed fears weigh on stocks")
    keys = [(-m.strength, m.asset.symbol) for m in matches]
    assert keys == sorted(keys)
    assert matches[0].asset.symbol == "TSLA"


# --- relations and catalog integrity -------------------------------------------------------


def test_related_eth_includes_l2s(catalog: AssetCatalog) -> None:
    l2s = {r.target for r in catalog.related("ETH") if r.kind == "l2_of"}
    assert {"ARB", "OP", "POL"} <= l2s


def test_related_btc_includes_equity_proxies(catalog: AssetCatalog) -> None:
    edges = {r.target: r for r in catalog.related("BTC")}
    assert {"MSTR", "MARA", "IBIT", "COIN"} <= set(edges)
    assert edges["MSTR"].kind == "treasury_holder"
    assert edges["MARA"].kind == "miner"
    assert edges["IBIT"].kind == "etf_tracks"
    assert edges["COIN"].kind == "exchange_equity"
    strengths = [r.strength for r in catalog.related("BTC")]
    assert strengths == sorted(strengths, reverse=True)


def test_meme_and_sector_peers(catalog: AssetCatalog) -> None:
    assert {"SHIB", "PEPE"} <= {r.target for r in catalog.related("DOGE") if r.kind == "meme_peer"}
    assert "CVX" in {r.target for r in catalog.related("XOM") if r.kind == "sector_peer"}
    assert "AMD" in {r.target for r in catalog.related("NVDA") if r.kind == "sector_peer"}


def test_relations_reference_catalog_assets(catalog: AssetCatalog) -> None:
    known = set(catalog.symbols())
    assert catalog.relations
    for rel in catalog.relations:
        assert rel.source in known and rel.target in known, rel
        assert rel.source != rel.target, rel
        assert 0.0 <= rel.strength <= 1.0, rel
        assert rel.sign in (1, -1), rel
        assert rel.note, rel


def test_no_duplicate_edges(catalog: AssetCatalog) -> None:
    pairs = [(r.source, r.target, r.kind) for r in catalog.relations]
    assert len(pairs) == len(set(pairs))


def test_assets_are_well_formed(catalog: AssetCatalog) -> None:
    syms = catalog.symbols()
    assert len(syms) >= 80
    classes = {catalog.get(s).asset_class for s in syms}
    assert classes == {"crypto", "stablecoin", "equity", "etf", "index"}
    for symbol in syms:
        asset = catalog.get(symbol)
        assert asset is not None and asset.symbol == symbol
        assert asset.vol_class in VOL_CLASSES
        assert asset.name
    assert catalog.get("btc") == catalog.get("BTC")
    assert catalog.get("NOPE") is None


def test_vol_classes_are_sensible(catalog: AssetCatalog) -> None:
    def vol(symbol: str) -> str:
        asset = catalog.get(symbol)
        assert asset is not None
        return asset.vol_class

    assert vol("SPY") == "low" and vol("USDT") == "low"
    assert vol("BTC") == "medium"
    assert vol("TSLA") == "high"
    assert {vol(s) for s in ("DOGE", "SHIB", "PEPE", "MSTR", "COIN", "MARA")} == {"extreme"}


def test_no_alias_names_two_assets(catalog: AssetCatalog) -> None:
    owner: dict[str, str] = {}
    for symbol in catalog.symbols():
        asset = catalog.get(symbol)
        assert asset is not None
        for alias in asset.aliases + asset.case_sensitive_aliases:
            key = " ".join(alias.lstrip("$").split()).casefold()
            assert owner.setdefault(key, symbol) == symbol, f"{alias!r}: {owner[key]} vs {symbol}"
    # An alias must not be another asset's ticker either.
    for symbol in catalog.symbols():
        assert owner.get(symbol.casefold(), symbol) == symbol, symbol


def test_topic_strengths_and_symbols(catalog: AssetCatalog) -> None:
    known = set(catalog.symbols())
    names = [t.name for t in catalog.topics]
    assert len(names) == len(set(names))
    for topic in catalog.topics:
        assert topic.patterns
        for symbol, strength in topic.symbols.items():
            assert symbol in known and 0.0 < strength < 1.0, (topic.name, symbol)


# --- real data -----------------------------------------------------------------------------


def test_cashtag_recall_on_real_tweets(catalog: AssetCatalog, shared_data: Path) -> None:
    path = shared_data / "twitter_financial_news_sentiment" / "sent_train.csv"

    known = set(catalog.symbols())
    cashtag = re.compile(r"\$([A-Za-z]{1,10})\b")
    with path.open(encoding="utf-8", newline="") as f:
        texts = [row["text"] for row in csv.DictReader(f)]

    expected = found = rows = 0
    for text in texts:
        tagged = {t.upper() for t in cashtag.findall(text)} & known
        if not tagged:
            continue
        rows += 1
        got = symbols(catalog, text)
        expected += len(tagged)
        found += len(tagged & got)
    assert rows >= 100, f"only {rows} rows with catalog cashtags"
    assert found / expected >= 0.95
