"""Settings: one pydantic-settings object, validated at start, built by `load_settings`.

Sources, highest priority first: keyword arguments, ``ONBOARD360_*`` environment
variables, the TOML file named by ``ONBOARD360_CONFIG`` (or ``config=``), defaults.
Nothing is created at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    PostgresDsn,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from onboard360.config.hubs import MIN_SECRET_LENGTH, HubConfig, ProductConfig


class ConfigError(Exception):
    """The configuration is invalid."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONBOARD360_", extra="forbid")

    database_url: PostgresDsn | None = Field(
        default=None,
        description="PostgreSQL to use; unset starts a private embedded server in data_dir.",
    )
    database_pool_mode: Literal["session", "transaction"] = Field(
        "session",
        description="how database_url reaches PostgreSQL: directly or through a session pool "
        "(session), or through a pooler in transaction mode such as PgBouncer's "
        "pool_mode=transaction (transaction: no prepared statements, no LISTEN through it)",
    )
    database_listen_url: PostgresDsn | None = Field(
        default=None,
        description="a direct or session-mode URL of the same database where workers LISTEN "
        "for new jobs; unset: database_url, or in transaction mode no LISTEN (workers poll)",
    )
    data_dir: Path = Field(default=Path(".onboard360"), description="Embedded database and state.")
    log_format: Literal["auto", "console", "json"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    public_url: str = Field(
        "http://localhost:8080",
        pattern=r"^https?://[^\s/]+$",
        description="where people and 360dialog reach this service (scheme://host[:port])",
    )
    encryption_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Fernet keys for secrets at rest; the first encrypts, all decrypt",
    )
    hubs: list[HubConfig] = Field(default_factory=list)
    products: list[ProductConfig] = Field(default_factory=list)
    onboarding_ttl_seconds: int = Field(3600, ge=60, le=7 * 86400)
    test_clock_url: str | None = Field(
        None,
        max_length=2048,
        pattern=r"^https?://[^\s]+$",
        description="tests only: a sandbox's /sandbox/clock; onboard360's timers (onboarding "
        "expiry, the abandonment sweep and resume, the redirect's client-age check, job "
        "retries' backoff) follow "
        "how far that clock is ahead (a scenario's --speed or `advance`). Never in production",
    )
    worker_heartbeat_seconds: float = Field(
        10.0, gt=0, le=300, description="how often a worker tells the database it is alive"
    )
    stalled_worker_seconds: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="a worker silent this long is dead: its running jobs are retried",
    )
    stuck_after_minutes: int = Field(
        60,
        ge=1,
        le=30 * 24 * 60,
        description="the dashboard lists a channel as stuck after this long without progress",
    )
    startup_database_wait_seconds: float = Field(
        0.0,
        ge=0,
        le=3600,
        description="serve and worker wait this long at start for a database that does not "
        "answer (0: exit at once); once running, they wait for it as long as it takes",
    )
    key_store_patience_seconds: float = Field(
        300.0,
        ge=0,
        le=86400,
        description="how long a key job keeps a key 360dialog made, in memory, retrying "
        "its store while the database is away",
    )
    endpoint_disable_after_hours: float = Field(
        5 * 24.0,
        gt=0,
        le=30 * 24,
        description="a product endpoint that failed without a single success for this long "
        "is disabled: deliveries pause, events are kept until it is enabled again",
    )
    reconcile_cron: str = Field(
        "*/15 * * * *",
        max_length=100,
        description="when workers reconcile every hub with 360dialog (cron); empty: never",
    )
    key_check_every_minutes: int = Field(
        10,
        ge=0,
        le=60,
        description="workers check a batch of stored keys every this many minutes (a "
        "divisor of 60); 0: never",
    )
    key_check_period_hours: float = Field(
        24.0,
        gt=0,
        le=30 * 24,
        description="every live channel's stored key is checked once per this period, the "
        "checks spread evenly over it",
    )
    key_check_rate_per_second: float = Field(
        5.0,
        gt=0,
        le=1000,
        description="at most this many key checks per second (a 429 ends the run early)",
    )
    # Abandoned onboardings (domain/abandonment.py, jobs/abandon.py).
    abandon_after_hours: float = Field(
        72.0,
        gt=0,
        le=90 * 24,
        description="an onboarding whose redirect came back but none of whose numbers has a "
        "key this long after it is abandoned (one that expired without its redirect is "
        "abandoned at its expiry)",
    )
    abandon_notify_within_hours: float = Field(
        7 * 24.0,
        gt=0,
        le=365 * 24,
        description="onboarding.abandoned is sent for an attempt found abandoned within this "
        "long of going stale; older ones (the history, on the sweep's first run) are marked "
        "without an event",
    )
    abandon_cron: str = Field(
        "*/10 * * * *",
        max_length=100,
        description="when workers look for abandoned onboardings (cron); empty: never",
    )
    # Retention (jobs/prune.py): what is kept, applied by the worker's prune job.
    retention_inbox_weeks: int = Field(
        4,
        ge=1,
        le=520,
        description="raw partner webhook bodies (inbox_events, with phone numbers and "
        "emails) are kept this long once processed; unprocessed ones are never removed",
    )
    retention_delivery_attempts_weeks: int = Field(
        4,
        ge=1,
        le=520,
        description="the delivery log of events the product accepted is kept this long; "
        "attempts of an event not delivered yet are never removed",
    )
    retention_jobs_days: int = Field(
        7,
        ge=1,
        le=3650,
        description="finished queue jobs (succeeded, cancelled, failed) are kept this long; "
        "waiting and running jobs, and failed key jobs, are never removed",
    )
    retention_timeline_days: int | None = Field(
        None,
        ge=1,
        description="timeline lines older than this are removed; unset: kept while the client "
        "exists",
    )
    retention_product_events_days: int | None = Field(
        None,
        ge=1,
        description="delivered product events older than this are removed (with their "
        "delivery log); unset: kept while the client exists; undelivered ones always stay",
    )
    prune_cron: str = Field(
        "17 3 * * *",
        max_length=100,
        description="when workers apply the retention settings (cron); empty: never "
        "(onboard360 prune does it by hand)",
    )
    database_pool_size: int = Field(
        10,
        ge=1,
        le=200,
        description="pooled database connections per web process (as many again on a burst)",
    )
    login_concurrency: int = Field(
        4,
        ge=1,
        le=64,
        description="dashboard password checks (argon2) running at once in a web process",
    )
    login_concurrency_per_address: int = Field(
        2, ge=1, le=64, description="dashboard logins in flight from one client address"
    )
    metrics_token: SecretStr | None = Field(
        None, description="GET /metrics is served to 'Authorization: Bearer <metrics_token>'"
    )
    metrics_public: bool = Field(
        False,
        description="serve GET /metrics without a token (only where the network keeps it "
        "private); with neither, /metrics is off",
    )

    @field_validator("metrics_token")
    @classmethod
    def _strong_metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters")
        return value

    @field_validator("key_check_every_minutes")
    @classmethod
    def _divides_an_hour(cls, value: int) -> int:
        if value and 60 % value:
            raise ValueError("key_check_every_minutes must divide 60 (1, 2, 3, 5, …, 30, 60)")
        return value

    @property
    def key_check_cron(self) -> str:
        """``key_check_every_minutes`` as a cron; empty when the checks are off."""
        every = self.key_check_every_minutes
        if not every:
            return ""
        return "0 * * * *" if every == 60 else f"*/{every} * * * *"

    @model_validator(mode="after")
    def _references(self) -> Settings:
        names = [hub.name for hub in self.hubs]
        if len(set(names)) != len(names):
            raise ValueError("hub names must be unique")
        partners = [hub.partner_id for hub in self.hubs]
        if len(set(partners)) != len(partners):
            raise ValueError("each partner_id may be configured once")
        products = {product.name for product in self.products}
        if len(products) != len(self.products):
            raise ValueError("product names must be unique")
        for hub in self.hubs:
            if hub.product not in products:
                raise ValueError(f"hub {hub.name} names unknown product {hub.product!r}")
        if self.stalled_worker_seconds < 2 * self.worker_heartbeat_seconds:
            # A live worker that merely missed one heartbeat must never look dead.
            raise ValueError("stalled_worker_seconds must be at least 2 × worker_heartbeat_seconds")
        return self

    def hub(self, name: str) -> HubConfig | None:
        return next((hub for hub in self.hubs if hub.name == name), None)

    def product(self, name: str) -> ProductConfig | None:
        return next((p for p in self.products if p.name == name), None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build and validate the settings, or raise ConfigError with one clear message."""
    if config is None and os.environ.get("ONBOARD360_CONFIG"):
        config = Path(os.environ["ONBOARD360_CONFIG"])
    settings_cls = Settings
    if config is not None:
        if not config.is_file():
            raise ConfigError(f"config file not found: {config}")

        class FromFile(Settings):
            model_config = SettingsConfigDict(toml_file=config)

        settings_cls = FromFile
    try:
        return settings_cls(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except ValueError as exc:  # e.g. a TOML syntax error
        raise ConfigError(f"cannot read configuration: {exc}") from None


def _describe(exc: ValidationError) -> str:
    # Never echo input values: a misplaced secret must not end up in a terminal or a log.
    problems = [
        f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
        for err in exc.errors()
    ]
    return "invalid configuration: " + "; ".join(problems)
