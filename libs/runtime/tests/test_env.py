"""Environment variables are read one way: defaults as documented, errors that name the variable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cityhall.runtime.env import ConfigError
from cityhall.runtime.http import LOCAL_HOSTS
from cityhall.runtime.service import Settings


def test_unset_variables_give_the_documented_defaults() -> None:
    # Read from the environment, the Host check is on (a bare `Settings()` in a test has none).
    assert Settings.from_env({}) == Settings(allowed_hosts=LOCAL_HOSTS)


def test_the_shared_names_are_read_and_blank_is_the_same_as_unset() -> None:
    env = dict(
        CITYHALL_PORT="9000",
        DATABASE_URL="postgresql://db/cityhall",
        KAFKA_BOOTSTRAP_SERVERS="",
        LINE_API_URL="  ",
        CITYHALL_DATA_DIR="/var/lib/cityhall",
        UNRELATED="ignored",
    )
    settings = Settings.from_env(env)
    assert settings.port == 9000
    assert settings.public_url == "http://127.0.0.1:9000"  # follows the port unless set
    assert settings.database_url == "postgresql://db/cityhall"
    assert settings.kafka_bootstrap_servers is None and settings.line_api_url is None
    assert settings.data_dir == Path("/var/lib/cityhall")
    assert (
        Settings.from_env({"CITYHALL_PUBLIC_URL": "https://city.example/"}).public_url
        == "https://city.example"
    )


def test_a_blank_served_domains_means_none_served_and_unset_means_unknown() -> None:
    assert Settings.from_env({}).served_domains is None
    assert Settings.from_env({"CITYHALL_SERVED_DOMAINS": ""}).served_domains == ()
    assert Settings.from_env({"CITYHALL_SERVED_DOMAINS": "notify, certificates"}).served_domains == (
        "notify",
        "certificates",
    )


@pytest.mark.parametrize(
    ("value", "problem"), [("eighty", "valid integer"), ("0", "greater than 0"), ("70000", "less than 65536")]
)
def test_a_bad_value_is_refused_naming_the_variable_and_the_value(value: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=rf"^CITYHALL_PORT: .*{problem}.*\(got '{value}'\)$"):
        Settings.from_env({"CITYHALL_PORT": value})


def test_without_a_mapping_the_process_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYHALL_PORT", "8123")
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "s3cret")
    settings = Settings.from_env()
    assert (settings.port, settings.line_channel_secret) == (8123, "s3cret")
    assert Settings.from_env({}).port == 8000  # a mapping given: the process environment is not read


def test_the_clock_offset_moves_now_in_development_and_is_refused_in_production() -> None:
    moved = Settings.from_env({"CITYHALL_CLOCK_OFFSET": "-3600"})
    assert moved.clock_offset == timedelta(hours=-1)
    assert abs(moved.now() - (datetime.now(UTC) - timedelta(hours=1))) < timedelta(seconds=5)
    assert Settings.from_env({}).clock_offset == timedelta(0)
    with pytest.raises(ConfigError, match=r"^CITYHALL_CLOCK_OFFSET: .*only in development"):
        Settings.from_env({"CITYHALL_CLOCK_OFFSET": "60", "CITYHALL_PROFILE": "production"})
    with pytest.raises(ConfigError, match=r"^CITYHALL_CLOCK_OFFSET: "):
        Settings.from_env({"CITYHALL_CLOCK_OFFSET": "an hour"})
