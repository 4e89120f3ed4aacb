"""Text clean-up shared by normalisation, hashing and embedding."""

from __future__ import annotations

import hashlib
import html
import re

_TAG = re.compile(r"<[^>]{0,500}>")
_URL = re.compile(r"https?://\S+")
_SPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Drop HTML tags and entities and collapse whitespace; keep the words as written."""
    text = html.unescape(_TAG.sub(" ", text))
    return _SPACE.sub(" ", text).strip()


def content_hash(text: str) -> str:
    """Hash of the text with links, case and spacing ignored: the exact-copy fast path.

    Re-posts differ in their t.co links and capitalisation, never in the words.
    """
    canonical = _SPACE.sub(" ", _URL.sub(" ", text).lower()).strip()
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
