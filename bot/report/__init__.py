"""The post-incident report: a typed view of an incident rendered as Markdown."""

from bot.report.service import draft_report

__all__ = ["draft_report"]
