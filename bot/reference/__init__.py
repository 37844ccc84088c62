"""The reference in ``docs/``, generated from the models the code runs on (``medic docs``)."""

from bot.reference.build import DOCS, render_docs, write_docs

__all__ = ["DOCS", "render_docs", "write_docs"]
