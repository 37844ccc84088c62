"""Check ``steps.<id>.output.<field>`` references in templates and ``when``/``unless`` against
the output model each earlier step's action declares, so a typo fails ``medic check``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError
from pydantic import BaseModel

from bot.playbooks.templates import ENV

DRY_RUN_FIELDS = frozenset({"would", "params"})
"""Present in every simulated step's output (what it would have done, with which params)."""


@dataclass(frozen=True, slots=True)
class OutputReference:
    """``steps.<step>.output.<field>`` as written (``field`` None when not named)."""

    step: str
    field: str | None


def references(source: str, *, expression: bool) -> list[OutputReference]:
    """Every ``steps.<id>.output[.<field>]`` in the template (or expression) ``source``."""
    text = f"{{{{ ({source}) }}}}" if expression else source
    try:
        tree = ENV.parse(text)
    except TemplateSyntaxError:
        return []  # reported as a syntax error elsewhere
    found: list[OutputReference] = []
    seen_outputs: set[int] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Call)):
        reference = _field_reference(node)
        if reference is not None:
            output_node, field = reference
            seen_outputs.add(id(output_node))
            found.append(OutputReference(_step_of(output_node) or "", field))
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        step = _step_of(node)
        if step is not None and id(node) not in seen_outputs:
            found.append(OutputReference(step, None))
    return [ref for ref in found if ref.step]


def _name(node: nodes.Node) -> str | None:
    """The attribute or constant key a Getattr/Getitem node reads."""
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        value = node.arg.value
        return value if isinstance(value, str) else None
    return None


def _step_of(node: nodes.Node) -> str | None:
    """``<id>`` when ``node`` is ``steps.<id>.output``."""
    if not isinstance(node, nodes.Getattr | nodes.Getitem) or _name(node) != "output":
        return None
    step_node = node.node
    if not isinstance(step_node, nodes.Getattr | nodes.Getitem):
        return None
    root = step_node.node
    if isinstance(root, nodes.Name) and root.name == "steps":
        return _name(step_node)
    return None


def _field_reference(node: nodes.Node) -> tuple[nodes.Node, str] | None:
    """``(output node, field)`` for ``<output>.field``, ``<output>["field"]`` and
    ``<output>.get("field")``."""
    if isinstance(node, nodes.Call):
        callee = node.node
        if (
            isinstance(callee, nodes.Getattr)
            and callee.attr == "get"
            and _step_of(callee.node) is not None
            and node.args
            and isinstance(node.args[0], nodes.Const)
            and isinstance(node.args[0].value, str)
        ):
            return callee.node, node.args[0].value
        return None
    if isinstance(node, nodes.Getattr | nodes.Getitem) and _step_of(node.node) is not None:
        field = _name(node)
        if field is not None and not (isinstance(node, nodes.Getattr) and field == "get"):
            return node.node, field
    return None


def problems(
    source: str, *, expression: bool, earlier: Mapping[str, tuple[str, type[BaseModel] | None]]
) -> Iterator[str]:
    """Why each output reference in ``source`` cannot hold, given the earlier steps
    (id -> (action, output model or None when the action declares none))."""
    for ref in references(source, expression=expression):
        if ref.step not in earlier:
            yield f"steps.{ref.step}.output: no earlier step {ref.step!r}"
            continue
        action, model = earlier[ref.step]
        if model is None or ref.field is None:
            continue
        known = set(model.model_fields) | DRY_RUN_FIELDS
        if ref.field not in known:
            fields = ", ".join(sorted(model.model_fields))
            yield (
                f"steps.{ref.step}.output.{ref.field}: {action} has no output field "
                f"{ref.field!r} (it has: {fields})"
            )
