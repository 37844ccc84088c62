"""Alertmanager: silences (the inbound webhook lives in ``bot/ingress``)."""
