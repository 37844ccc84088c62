"""The configuration schema: every section and key with its default."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from bot.config.duration import Duration


def _web_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return url


def _https_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("must be an https:// URL")
    return url


WebUrl = Annotated[str, AfterValidator(_web_url)]
"""An ``http://`` or ``https://`` URL with a host."""
HttpsUrl = Annotated[str, AfterValidator(_https_url)]
"""An ``https://`` URL with a host."""


class Section(BaseModel):
    """A configuration section: unknown keys are errors, so typos surface at startup."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ServerConfig(Section):
    """The HTTP server."""

    host: str = "127.0.0.1"
    """``0.0.0.0`` listens on every interface; empty is refused."""
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(default=10_485_760, gt=0)
    api_token: SecretStr | None = None
    """The bridge token: a trusted SSO proxy or chat bridge that names the user itself."""
    api_users: dict[str, SecretStr] = Field(default_factory=dict)
    """Personal tokens, ``{user id: token}``: the token is the identity."""
    public_url: WebUrl | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    header_timeout: Duration = timedelta(seconds=10)
    """A new connection, or a new request on a kept-alive one, must send its whole head
    within this (idle kept-alive connections close after 75 s). Also the longest a request
    waits for room (``max_inflight_bytes``, a slot for a large answer) before a 503."""
    body_timeout: Duration = timedelta(seconds=30)
    """A request body must arrive whole within this once the handler reads it; a large
    answer (an incident's detail) must be read whole within it, else the client is cut off."""
    max_connections: int = Field(default=256, ge=1)
    """Open connections at most; at the cap a new one pushes out the oldest idle one or stream."""
    max_inflight_bytes: int = Field(default=67_108_864, gt=0)
    """Request bodies held in memory at once, all connections together."""
    protect_reads: bool = False
    """True: ``GET /api/…`` and ``/ui`` need a token (personal or bridge) or the trusted header."""
    trusted_user_header: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,64}$")
    """The header an auth proxy in front of Medic sets to the signed-in user (e.g.
    ``X-Auth-Request-User`` from oauth2-proxy); off by default. Trusted as is: only set it
    when every request reaches Medic through that proxy."""

    @field_validator("host")
    @classmethod
    def _some_host(cls, host: str) -> str:
        if not host.strip():
            raise ValueError("must not be empty; use 0.0.0.0 to listen on every interface")
        return host

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_case_level(cls, level: object) -> object:
        return level.lower() if isinstance(level, str) else level

    @field_validator("api_users")
    @classmethod
    def _distinct_personal_tokens(cls, users: dict[str, SecretStr]) -> dict[str, SecretStr]:
        owners: dict[str, str] = {}
        for user, token in users.items():
            if not user.strip():
                raise ValueError("a user id must not be empty")
            value = token.get_secret_value()
            if not value.strip():
                raise ValueError(f"{user}: the token must not be empty")
            if value in owners:
                raise ValueError(f"{user} and {owners[value]} have the same token")
            owners[value] = user
        return users

    @model_validator(mode="after")
    def _bridge_token_is_nobodys(self) -> Self:
        bridge = self.api_token
        if bridge is not None and any(
            t.get_secret_value() == bridge.get_secret_value() for t in self.api_users.values()
        ):
            raise ValueError("api_users: a personal token must differ from api_token")
        return self

    @field_validator("header_timeout", "body_timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than 0s")
        return value

    @model_validator(mode="after")
    def _one_body_fits(self) -> Self:
        if self.max_inflight_bytes < self.max_body_bytes:
            raise ValueError("max_inflight_bytes must be at least max_body_bytes")
        return self


class StoreConfig(Section):
    """Where incidents, alerts, runs and the audit trail live."""

    url: str = "sqlite:///medic.db"
    """``sqlite:///path`` (a file: in-memory SQLite is refused) or ``postgresql://…``."""
    lease_seconds: float = Field(default=15.0, gt=0, le=600)
    """Several replicas on PostgreSQL: each renews a heartbeat every third of this; the runs
    of a replica silent this long are taken over by another."""

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in {"sqlite", "postgresql", "postgres"}:
            raise ValueError("must start with sqlite:/// or postgresql://")
        if scheme == "sqlite" and not _sqlite_file(url):
            raise ValueError(
                "SQLite needs a file path (sqlite:///medic.db): an in-memory store loses every"
                " alert and incident at restart"
            )
        return url


def _sqlite_file(url: str) -> bool:
    """True when the ``sqlite://`` ``url`` names a database file: not ``sqlite://``,
    ``sqlite:///``, ``sqlite:///:memory:``, a ``mode=memory`` URI, nor a host without a path
    (``sqlite://medic.db``), all of which SQLite keeps in memory."""
    rest = url.removeprefix("sqlite://")
    path, _, query = rest.partition("?")
    if not path.startswith("/") or path[1:] in {"", ":memory:"}:
        return False
    return "mode=memory" not in query.lower().replace(" ", "")


class RateLimit(Section):
    """At most ``max`` uses of an action per rolling ``per`` window."""

    max: int = Field(ge=0)
    per: Duration


def _default_limits() -> dict[str, RateLimit]:
    hour = timedelta(hours=1)
    return {
        "kubernetes.rollback": RateLimit(max=3, per=hour),
        "kubernetes.cordon": RateLimit(max=2, per=hour),
        "kubernetes.drain": RateLimit(max=1, per=hour),
        "kubernetes.delete_node": RateLimit(max=1, per=timedelta(hours=24)),
        "kubernetes.scale": RateLimit(max=6, per=hour),
    }


class IneffectiveRuns(Section):
    """The remediation breaker: ``max`` ineffective or failed runs of one playbook on one
    target within ``per`` (with no effective run since) stop its automatic write steps
    there."""

    max: int = Field(default=3, ge=1)
    per: Duration = timedelta(hours=24)


class SafetyConfig(Section):
    """Dry run, pause switch and blast-radius limits."""

    dry_run: bool = True
    paused: bool = False
    max_concurrent_runs: int = Field(default=20, ge=1)
    max_cordoned_fraction: float = Field(default=0.2, ge=0, le=1)
    limits: dict[str, RateLimit] = Field(default_factory=_default_limits)
    """Per action. An entry replaces that action's default; the other defaults stay (raise
    ``max`` to loosen one). An action no installed integration provides is an error."""
    ineffective_runs: IneffectiveRuns = Field(default_factory=IneffectiveRuns)

    @field_validator("limits")
    @classmethod
    def _over_the_defaults(cls, limits: dict[str, RateLimit]) -> dict[str, RateLimit]:
        return _default_limits() | limits


CatalogueName = Literal["dwcp", "kubernetes"]
"""The shipped catalogues (folders of ``playbooks/``)."""
_CATALOGUES: tuple[CatalogueName, ...] = ("dwcp", "kubernetes")


class PlaybooksConfig(Section):
    """The shipped catalogues to load, then the user's own playbook directories."""

    catalogues: list[CatalogueName] = Field(default_factory=lambda: list(_CATALOGUES))
    dirs: list[str] = Field(default_factory=list)
    flap_window: Duration = timedelta(minutes=10)
    """An alert firing again this soon after its incident resolved reopens that incident."""

    @field_validator("catalogues")
    @classmethod
    def _once_each(cls, names: list[CatalogueName]) -> list[CatalogueName]:
        if len(set(names)) != len(names):
            raise ValueError("names a catalogue twice")
        return names


class AlertmanagerConfig(Section):
    """Alertmanager: ``url`` for silences, ``bearer_token`` guards the inbound webhook."""

    url: WebUrl | None = None
    bearer_token: SecretStr | None = None


class PrometheusConfig(Section):
    """Prometheus HTTP API for evidence and verification queries."""

    url: WebUrl | None = None
    timeout: Duration = timedelta(seconds=10)


class SlackConfig(Section):
    """Slack narration, approvals and /incident commands."""

    enabled: bool = False
    api_url: WebUrl = "https://slack.com/api/"
    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    channel_prefix: str = Field(default="inc", pattern=r"^[a-z0-9_-]{1,20}$")
    approvers: list[str] = Field(default_factory=list)
    approver_groups: list[str] = Field(default_factory=list)
    admins: list[str] = Field(default_factory=list)
    invite: list[str] = Field(default_factory=list)
    security_channel: str | None = None
    app_token: SecretStr | None = None
    """An app-level token (``xapp-…``): commands and clicks then also arrive over Socket
    Mode, for a Medic that Slack cannot reach (no public URL)."""

    @field_validator("app_token")
    @classmethod
    def _app_level_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not token.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token (xapp-…), made under Basic Information")
        return token

    @model_validator(mode="after")
    def _credentials_when_enabled(self) -> Self:
        if self.enabled:
            missing = [key for key in ("bot_token", "signing_secret") if getattr(self, key) is None]
            if missing:
                raise ValueError(f"slack.enabled needs {' and '.join(missing)}")
        return self


class KafkaConfig(Section):
    """Kafka brokers: topics carrying alerts (Alertmanager v4 bodies, one per message),
    and consumer-lag evidence."""

    bootstrap_servers: str | None = None
    alert_topics: list[str] = Field(default_factory=list)
    """Topics whose messages are alerts (one Alertmanager v4 body each)."""
    group_id: str = Field(default="medic", min_length=1)
    """The consumer group of every replica: Kafka spreads the partitions over them."""

    @model_validator(mode="after")
    def _servers_for_topics(self) -> Self:
        if self.alert_topics and self.bootstrap_servers is None:
            raise ValueError("kafka.alert_topics needs kafka.bootstrap_servers")
        return self
