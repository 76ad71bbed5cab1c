"""Settings: one pydantic-settings object, validated at start, built by `load_settings`.

Sources, highest priority first: keyword arguments, ``ONBOARD360_*`` environment
variables, the TOML file named by ``ONBOARD360_CONFIG`` (or ``config=``), defaults.
Nothing is created at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PostgresDsn, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class ConfigError(Exception):
    """The configuration is invalid."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONBOARD360_", extra="forbid")

    database_url: PostgresDsn | None = Field(
        default=None,
        description="PostgreSQL to use; unset starts a private embedded server in data_dir.",
    )
    data_dir: Path = Field(default=Path(".onboard360"), description="Embedded database and state.")
    log_format: Literal["auto", "console", "json"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

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
