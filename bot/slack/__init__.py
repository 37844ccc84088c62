"""Slack: incident channels, live narration, approval buttons and ``/incident`` commands."""
