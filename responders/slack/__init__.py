"""Slack: messages from playbooks (narration and approvals live in ``bot/narrator``)."""
