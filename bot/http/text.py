"""Storable text: the one rule for strings Medic accepts from outside.

No store can keep a NUL character (PostgreSQL's text refuses it) or a lone surrogate (not
UTF-8: neither store can encode it), so text holding one is refused where it enters, with
a reason, instead of failing (or being kept by one store and not the other) later.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

NUL_REFUSED = "NUL characters are not accepted (not storable)"
SURROGATE_REFUSED = "lone surrogates are not accepted (not UTF-8, not storable)"


def unstorable(text: str) -> str | None:
    """Why no store can keep ``text``, or None when any can."""
    if "\x00" in text:
        return NUL_REFUSED
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE_REFUSED
    return None


def storable(text: str) -> str:
    """``text`` itself; ValueError (a pydantic validation error) when no store can keep it."""
    reason = unstorable(text)
    if reason is not None:
        raise ValueError(reason)
    return text


StorableText = Annotated[str, AfterValidator(storable)]
"""A string any store can keep (see :func:`unstorable`)."""
