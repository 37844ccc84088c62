"""Runs: driving a playbook's steps, owning runs, recovering them after a crash."""
