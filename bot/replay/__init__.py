"""``medic replay``: past alerts through the current playbooks, touching nothing."""
