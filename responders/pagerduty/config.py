"""The ``pagerduty`` config section."""

from __future__ import annotations

from pydantic import Field, SecretStr

from bot.config.models import HttpsUrl
from bot.plugins import ConfigSection


class PagerDutyConfig(ConfigSection):
    """PagerDuty: Events API out, REST for notes/ack/resolve, signed webhooks in."""

    enabled: bool = False
    api_url: HttpsUrl = "https://api.pagerduty.com"
    events_url: HttpsUrl = "https://events.pagerduty.com"
    api_token: SecretStr | None = None
    from_email: str | None = None
    routing_key: SecretStr | None = None
    routing_keys: dict[str, SecretStr] = Field(default_factory=dict)
    webhook_secrets: list[SecretStr] = Field(default_factory=list)
