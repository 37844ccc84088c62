"""Playbooks: schema, loading, matching, templates."""
