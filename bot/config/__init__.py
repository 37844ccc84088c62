"""Configuration: the schema, YAML + ``MEDIC_*`` environment, precise startup errors."""

from bot.config.duration import Duration, format_duration, parse_duration
from bot.config.loader import load_settings
from bot.config.settings import Settings

__all__ = ["Duration", "Settings", "format_duration", "load_settings", "parse_duration"]
