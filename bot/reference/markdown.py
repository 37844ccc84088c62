"""Markdown tables of pydantic models: fields, types, defaults, descriptions."""

from __future__ import annotations

import inspect
import json
import re
import types
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bot.config import format_duration


def type_name(annotation: Any) -> str:  # noqa: PLR0911 -- one return per kind of type
    """A short, readable name for a field's type."""
    origin = get_origin(annotation)
    if origin is None:
        if annotation is type(None):
            return "null"
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            return " \\| ".join(f"`{member.value}`" for member in annotation)
        if annotation is SecretStr:
            return "secret"
        if isinstance(annotation, type) and annotation.__name__ == "timedelta":
            return "duration"
        return getattr(annotation, "__name__", str(annotation))
    args = get_args(annotation)
    if origin is Union or origin is types.UnionType:
        return " \\| ".join(type_name(arg) for arg in args)
    if origin is list:
        return f"list[{type_name(args[0])}]" if args else "list"
    if origin is dict:
        return f"map[{type_name(args[0])}, {type_name(args[1])}]" if args else "map"
    if origin is Literal:
        return " \\| ".join(f"`{arg}`" for arg in args)
    if origin is Annotated:
        return type_name(args[0])
    return re.sub(r"typing\.|\w+\.", "", str(annotation))


def default_text(info: FieldInfo) -> str:
    """The default as the YAML/JSON a user would write; "required" when there is none."""
    if info.is_required():
        return "required"
    value = (
        info.default
        if info.default_factory is None
        else info.get_default(call_default_factory=True)
    )
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, BaseModel):
        return ""
    if hasattr(value, "total_seconds"):
        return f"`{format_duration(value)}`"
    try:
        dumped = TypeAdapter(Any).dump_python(value, mode="json")
    except Exception:
        return f"`{value!r}`"
    return f"`{json.dumps(dumped, sort_keys=True)}`"


def summary(model: object) -> str:
    """The first paragraph of the docstring of ``model`` (a class or function), one line."""
    doc = inspect.getdoc(model) or ""
    return " ".join(doc.split("\n\n", 1)[0].split())


def field_rows(model: type[BaseModel], *, skip_models: bool = False) -> list[str]:
    """A Markdown table of ``model``'s fields (aliases as written in YAML)."""
    rows = ["| key | type | default | notes |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if skip_models and isinstance(annotation, type) and issubclass(annotation, BaseModel):
            continue
        notes = " ".join((info.description or "").split())
        rows.append(
            f"| `{info.alias or name}` | {type_name(annotation)} | {default_text(info)} | {notes} |"
        )
    return rows if len(rows) > 2 else ["(none)"]
