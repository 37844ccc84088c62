"""Every responder's actions module, imported so their ``@action`` declarations register.

``bot.actions.registry.ActionRegistry.default`` imports this module; the engine's own
actions (``approval``, ``incident.*``) are declared elsewhere.
"""

from __future__ import annotations

from responders.alertmanager import actions as alertmanager_actions
from responders.kafka import actions as kafka_actions
from responders.kubernetes import actions as kubernetes_actions
from responders.pagerduty import actions as pagerduty_actions
from responders.prometheus import actions as prometheus_actions
from responders.slack import actions as slack_actions

MODULES = (
    alertmanager_actions,
    kafka_actions,
    kubernetes_actions,
    pagerduty_actions,
    prometheus_actions,
    slack_actions,
)
"""The imported modules (named, so the imports are used)."""
