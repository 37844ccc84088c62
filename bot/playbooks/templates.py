"""Sandboxed Jinja2 for playbook fields and ``when`` / ``unless`` expressions.

Templates come from playbooks; values in the context (labels, step outputs) are data
and never become template source. The ``promql`` filter quotes any value as a PromQL
string literal, so a label value cannot change a query's shape.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.errors import PermanentError

_SNIPPET = 60

# Errors a template can raise while rendering: Jinja's own (undefined names, sandbox
# refusals) and those of the Python operations it performs (``1 / 0``, ``"a" + 1``).
_RENDER_ERRORS = (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, LookupError)

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class TemplateError(PermanentError):
    """A template or expression is invalid or failed to render."""


def promql_literal(value: object) -> str:
    """``value`` (as text) as a double-quoted PromQL string literal.

    Backslash, double quote, newline, carriage return and tab get their usual escapes;
    other control characters become ``\\xNN`` (``\\u00NN`` above ASCII).
    """
    return '"' + "".join(_escape(char) for char in str(value)) + '"'


def _escape(char: str) -> str:
    """One character as it may appear inside a PromQL double-quoted string."""
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if 0x80 <= code <= 0x9F or 0xD800 <= code <= 0xDFFF:
        # C1 controls; lone surrogates are not valid UTF-8, so they become U+FFFD.
        return "\\ufffd" if code >= 0xD800 else f"\\u{code:04x}"
    return char


ENV = ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # the output is plain text (queries, messages), never HTML
    keep_trailing_newline=False,
)
ENV.filters["promql"] = promql_literal


def check_template(source: str) -> str | None:
    """The syntax error in ``source`` as ``line N: reason``, or None if it compiles."""
    try:
        _template(source)
    except jinja2.TemplateSyntaxError as err:
        return f"line {err.lineno}: {err.message}"
    return None


def check_expression(source: str) -> str | None:
    """The syntax error in the expression ``source`` (a ``when`` / ``unless``), or None."""
    try:
        _expression(source)
    except jinja2.TemplateSyntaxError as err:
        return f"line {err.lineno}: {err.message}"
    return None


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render the template ``source`` with ``context``; TemplateError on any failure."""
    try:
        return _template(source).render(context)
    except _RENDER_ERRORS as err:
        raise TemplateError(f"template {_snippet(source)}: {err}") from err


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside nested dicts, lists and tuples; keys and scalars stay."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, Mapping):
        return {key: render_value(item, context) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(render_value(item, context) for item in value)
    return value


def evaluate(expression: str, context: Mapping[str, Any]) -> bool:
    """The truthiness of the expression ``expression``; TemplateError on any failure."""
    try:
        return bool(_expression(expression)(**context))
    except _RENDER_ERRORS as err:
        raise TemplateError(f"expression {_snippet(expression)}: {err}") from err


@functools.lru_cache(maxsize=1024)
def _template(source: str) -> jinja2.Template:
    """``source`` compiled once."""
    return ENV.from_string(source)


@functools.lru_cache(maxsize=1024)
def _expression(source: str) -> Callable[..., Any]:
    """The expression ``source`` compiled once; an undefined result stays undefined."""
    # Kept undefined, not turned into None, so ``bool()`` of it raises under StrictUndefined.
    return ENV.compile_expression(source, undefined_to_none=False)


def _snippet(source: str) -> str:
    """``source`` shortened for an error message."""
    if len(source) <= _SNIPPET:
        return repr(source)
    return repr(source[: _SNIPPET - 1] + "…")
