"""Ingress: authenticate → validate → commit → acknowledge, one module per source."""
