"""Approvals: waiting for humans, and who may decide."""
