"""The root settings object: YAML values, overridden by ``MEDIC_*`` environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bot.config.models import (
    AlertmanagerConfig,
    KafkaConfig,
    PlaybooksConfig,
    PrometheusConfig,
    SafetyConfig,
    ServerConfig,
    SlackConfig,
    StoreConfig,
)
from bot.config.secret_files import env_file_names, secret_keys
from bot.yamlsource import Lines

ENV_PREFIX = "MEDIC_"
ENV_NESTED_DELIMITER = "__"


class Settings(BaseSettings):
    """Every section of the configuration. Built by :func:`bot.config.loader.load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
        frozen=True,
    )

    server: ServerConfig = Field(default_factory=ServerConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    safety: SafetyConfig = Field(default_factory=SafetyConfig)
    playbooks: PlaybooksConfig = Field(default_factory=PlaybooksConfig)
    alertmanager: AlertmanagerConfig = Field(default_factory=AlertmanagerConfig)
    prometheus: PrometheusConfig = Field(default_factory=PrometheusConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    _plugin_sections: dict[str, BaseModel] = PrivateAttr(default_factory=dict)
    _origin: tuple[str, Lines] = PrivateAttr(default=("<defaults>", {}))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment first (it wins), then the YAML file passed as init values.

        ``MEDIC_…_FILE`` variables are not values: the loader reads their files and passes
        the secrets with the init values (see :mod:`bot.config.secret_files`).
        """
        return (_EnvWithoutSecretFiles(settings_cls), init_settings)

    def section(self, name: str) -> BaseModel | None:
        """The config section named ``name``: one of Medic's own, or an installed
        integration's (validated by its model when the settings were loaded)."""
        if name in type(self).model_fields:
            value = getattr(self, name)
            return value if isinstance(value, BaseModel) else None
        return self._plugin_sections.get(name)

    def with_sections(self, sections: Mapping[str, BaseModel]) -> Settings:
        """A copy that also holds the validated sections of installed integrations."""
        copy = self.model_copy()
        copy._plugin_sections = dict(self._plugin_sections) | dict(sections)
        return copy

    def with_origin(self, source: str, lines: Lines) -> Settings:
        """A copy that remembers the file it was read from and the line of each key, so a
        check made after loading can say ``file:line`` too."""
        copy = self.model_copy()
        copy._origin = (source, lines)
        return copy

    @property
    def origin(self) -> tuple[str, Lines]:
        """The file these settings were read from (``<defaults>`` when none) and the line
        of each of its key paths."""
        return self._origin

    def secret_values(self) -> list[str]:
        """Every configured secret in clear text, so logging can redact it wherever it appears."""
        found: list[str] = []
        _collect_secrets(self, found)
        for section in self._plugin_sections.values():
            _collect_secrets(section, found)
        return found


def _collect_secrets(value: object, found: list[str]) -> None:
    if isinstance(value, SecretStr):
        found.append(value.get_secret_value())
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _collect_secrets(getattr(value, name), found)
    elif isinstance(value, dict):
        for item in value.values():
            _collect_secrets(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect_secrets(item, found)


class NotJson(str):
    """A ``MEDIC_*`` value for a list or mapping key that is not JSON, kept as the text it
    is: validation then fails at that key, and the loader reports the variable (``<env>:0:
    key: not JSON… (from VARIABLE)``) instead of the settings library stopping with an
    exception that names neither."""

    __slots__ = ()

    REASON = 'not JSON: write a list or mapping as JSON, e.g. ["a", "b"] or {"k": "v"}'


class _EnvWithoutSecretFiles(EnvSettingsSource):
    """The ``MEDIC_*`` environment, minus the ``…_FILE`` variables that name secret files;
    a list or mapping value that is not JSON is kept as a :class:`NotJson` text."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)
        except ValueError:
            return NotJson(value)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        names = {
            n.lower()
            for n in env_file_names(
                list(secret_keys(self.settings_cls)), ENV_PREFIX, ENV_NESTED_DELIMITER
            )
        }
        return {k: v for k, v in super()._load_env_vars().items() if k.lower() not in names}
