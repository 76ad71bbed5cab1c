from pathlib import Path

import pytest

from onboard360.config.settings import ConfigError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ONBOARD360_CONFIG", "ONBOARD360_DATABASE_URL", "ONBOARD360_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_use_the_embedded_database() -> None:
    settings = load_settings()
    assert settings.database_url is None
    assert settings.data_dir == Path(".onboard360")


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONBOARD360_DATABASE_URL", "postgresql://u@db.example:5432/o360")
    monkeypatch.setenv("ONBOARD360_LOG_LEVEL", "debug")
    settings = load_settings()
    assert str(settings.database_url) == "postgresql://u@db.example:5432/o360"
    assert settings.log_level == "debug"


def test_toml_file_is_read_and_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "onboard360.toml"
    config.write_text('log_level = "warning"\ndata_dir = "/var/lib/o360"\n')
    monkeypatch.setenv("ONBOARD360_LOG_LEVEL", "error")
    settings = load_settings(config)
    assert settings.data_dir == Path("/var/lib/o360")
    assert settings.log_level == "error"


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")


def test_bad_database_url_names_the_field_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ONBOARD360_DATABASE_URL", "mysql://root:hunter2secret@db/x")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "database_url" in str(info.value)
    assert "hunter2secret" not in str(info.value)


def test_unknown_setting_in_toml_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('colour = "blue"\n')
    with pytest.raises(ConfigError, match="colour"):
        load_settings(config)


def test_toml_syntax_error_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("log_level = \n")
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_settings(config)
