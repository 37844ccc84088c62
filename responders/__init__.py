"""Responders: one folder per external system (client.py, actions.py, models.py, const.py)."""
