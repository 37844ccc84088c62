"""PagerDuty: page, note, acknowledge, resolve (signed webhooks arrive via ``bot/ingress``)."""
