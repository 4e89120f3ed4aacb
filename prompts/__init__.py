"""Prompt templates, one file per node, loaded by name. `$name` placeholders (string.Template)
keep JSON braces in the prompts literal."""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template


@cache
def _template(name: str) -> Template:
    text = resources.files(__package__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    return Template(text.strip())


def load_prompt(name: str, **values: object) -> str:
    """The prompt `name` with its placeholders filled; a missing value is an error."""
    return _template(name).substitute({key: str(value) for key, value in values.items()})
