"""What every responder shares: field types for params models and small describe helpers.

Params are validated twice: when playbooks load (values may still be Jinja templates such as
``"{{ labels.namespace }}"``) and again after rendering. So string fields check their content
only when they hold no template; types and shapes are checked always.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

_TEMPLATE_MARKERS = ("{{", "{%")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DESCRIBE_TEXT_LIMIT = 120


def is_template(value: str) -> bool:
    """Whether ``value`` still holds Jinja (validated again once rendered)."""
    return any(marker in value for marker in _TEMPLATE_MARKERS)


def non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _dns_label(value: str) -> str:
    non_empty(value)
    if is_template(value):
        return value
    if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a Kubernetes name (RFC 1123 label: lowercase letters, digits "
            "and '-', at most 63 characters, starting and ending with a letter or digit)"
        )
    return value


def _dns_subdomain(value: str) -> str:
    non_empty(value)
    if is_template(value):
        return value
    if len(value) > 253 or not _DNS_SUBDOMAIN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a Kubernetes name (RFC 1123 subdomain: lowercase letters, "
            "digits, '-' and '.', at most 253 characters)"
        )
    return value


def _scalar_to_str(value: object) -> object:
    """YAML gives ``150`` or ``false`` where Kubernetes wants ``"150"`` and ``"false"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


NonEmptyStr = Annotated[str, AfterValidator(non_empty)]
"""Any text with at least one non-blank character."""

K8sLabelName = Annotated[str, AfterValidator(_dns_label)]
"""A namespace or container name (RFC 1123 label) unless templated."""

K8sName = Annotated[str, AfterValidator(_dns_subdomain)]
"""A deployment, pod or node name (RFC 1123 subdomain) unless templated."""

ScalarStr = Annotated[str, BeforeValidator(_scalar_to_str)]
"""A string that YAML may have written as a number or boolean."""


def one_line(text: str, limit: int = DESCRIBE_TEXT_LIMIT) -> str:
    """``text`` on one line (whitespace collapsed), cut to ``limit`` characters with ``…``."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def quoted(text: str, limit: int = DESCRIBE_TEXT_LIMIT) -> str:
    """``text`` as a one-line double-quoted phrase for a describe sentence."""
    return f'"{one_line(text, limit)}"'


def pairs(values: Mapping[str, str]) -> str:
    """``{"A": "1", "B": "2"}`` as ``A=1, B=2`` (sorted, so sentences are stable)."""
    return ", ".join(f"{key}={value}" for key, value in sorted(values.items()))


def slack_escape(text: str) -> str:
    """Slack's mrkdwn escaping of ``&``, ``<`` and ``>``: text from alerts and people can
    neither ping ``<!channel>`` nor fake a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
