"""Prompt templates, one file per node, loaded by name. `$name` placeholders (string.Template)
keep JSON braces in the prompts literal.

The JSON shape a node must answer with is not written in its prompt: `$answer` is rendered
from the node's answer schema (the same schema sent as the response format), so the two
cannot drift apart.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template
from typing import Any

from pydantic import BaseModel

JSON_TYPE_WORDS = {"number": "number", "integer": "integer", "string": "string"}


@cache
def _template(name: str) -> Template:
    text = resources.files(__package__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    return Template(text.strip())


def load_prompt(name: str, **values: object) -> str:
    """The prompt `name` with its placeholders filled; a missing value is an error."""
    return _template(name).substitute({key: str(value) for key, value in values.items()})


def node_prompt(name: str, schema: type[BaseModel], **values: object) -> str:
    """A node's instruction, with `$answer` rendered from its answer schema."""
    return load_prompt(name, answer=answer_shape(schema), **values)


def answer_shape(schema: type[BaseModel]) -> str:
    """A compact, readable JSON shape for a small model: enums as "a" | "b", and a field's
    description (when it has one) in place of its type."""
    json_schema = schema.model_json_schema()
    return _shape(json_schema, json_schema.get("$defs", {}))


def _shape(node: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in node:
        return _shape(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    if "enum" in node:
        return " | ".join(f'"{value}"' for value in node["enum"])
    kind = node.get("type")
    if kind == "object":
        fields = ", ".join(
            f'"{name}": {_shape(field, defs)}' for name, field in node["properties"].items()
        )
        return "{" + fields + "}"
    if kind == "array":
        inner = node.get("description") or _shape(node.get("items", {}), defs)
        return f"[{inner}]"
    if kind == "boolean":
        return "true | false"
    return node.get("description") or JSON_TYPE_WORDS.get(str(kind), "value")
