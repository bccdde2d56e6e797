import pytest

from shared.config import ConfigError, configuration_table, load_settings


def test_defaults_give_the_embedded_platform():
    settings = load_settings({})
    assert settings.amqp_url == "memory://"
    assert settings.port == 8080
    assert settings.database_url("intake").startswith("sqlite:///")
    assert settings.database_url("intake").endswith("var/intake.db")
    assert not settings.uses_broker


def test_per_service_database_urls_and_broker_switch_to_real_servers():
    settings = load_settings(
        {
            "XIESHANG_AMQP_URL": "amqp://guest:guest@127.0.0.1:5672//",
            "XIESHANG_INTAKE_DATABASE_URL": "postgresql://postgres@127.0.0.1/intake",
        }
    )
    assert settings.uses_broker
    assert settings.database_url("intake") == "postgresql://postgres@127.0.0.1/intake"
    assert settings.database_url("notify").startswith("sqlite:///")


def test_one_error_lists_every_bad_variable():
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "PORT": "seventy",
                "XIESHANG_AMQP_URL": "http://broker",
                "XIESHANG_QUORUM_QUEUES": "maybe",
                "XIESHANG_RETRY_DELAYS": "1,-5",
            }
        )
    names = " ".join(caught.value.problems)
    for name in ("PORT", "XIESHANG_AMQP_URL", "XIESHANG_QUORUM_QUEUES", "XIESHANG_RETRY_DELAYS"):
        assert name in names
    assert len(caught.value.problems) == 4


def test_typed_values():
    settings = load_settings({"XIESHANG_QUORUM_QUEUES": "1", "XIESHANG_RETRY_DELAYS": "0.5, 2", "PORT": "9000"})
    assert settings.quorum_queues is True
    assert settings.retry_delays == (0.5, 2.0)
    assert settings.port == 9000


def test_configuration_table_documents_every_variable():
    table = configuration_table()
    assert "`XIESHANG_AMQP_URL`" in table
    assert "`XIESHANG_TRACKING_DATABASE_URL`" in table


def test_the_readme_table_is_the_current_one():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert configuration_table() in readme, "run `xieshang config` and paste the table into README.md"
