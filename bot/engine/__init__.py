"""The engine: turns journaled alerts into incidents (and, later, playbook runs)."""
