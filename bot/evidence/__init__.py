"""Evidence graphs: the last hour of an alert's PromQL expression as a PNG."""

from bot.evidence.graph import EvidenceGraph, GraphUnavailable, incident_graph

__all__ = ["EvidenceGraph", "GraphUnavailable", "incident_graph"]
