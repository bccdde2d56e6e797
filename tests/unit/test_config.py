import base64
import dataclasses
import ipaddress
import types
import typing
from pathlib import Path

import pytest

from shared.config import (
    DATABASES,
    SECTIONS,
    SERVICES,
    VARIABLES,
    BusSettings,
    ConfigError,
    NotifySettings,
    ServerSettings,
    Settings,
    configuration_table,
    load_settings,
)


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
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert configuration_table() in readme, "run `xieshang config` and paste the table into README.md"


# A valid raw value for every variable: the typed-field tests below parse all of them.
SAMPLE_ENVIRON = {
    "XIESHANG_DATA_DIR": "/srv/xieshang",
    "XIESHANG_HOST": "0.0.0.0",
    "PORT": "9000",
    "XIESHANG_WEB_CONCURRENCY": "4",
    "XIESHANG_WEB_THREADS": "16",
    "XIESHANG_LOG_LEVEL": "debug",
    "XIESHANG_GAUGES_MAX_AGE_SECONDS": "30",
    "XIESHANG_AMQP_URL": "amqp://guest:guest@rabbit:5672//",
    "XIESHANG_BUS_NAMESPACE": "chizhou",
    "XIESHANG_QUORUM_QUEUES": "yes",
    "XIESHANG_PREFETCH": "64",
    "XIESHANG_RETRY_DELAYS": "2,10",
    "XIESHANG_RELAY_INTERVAL": "0.5",
    "XIESHANG_RELAY_BATCH": "100",
    "XIESHANG_INBOX_RETENTION_DAYS": "14",
    "XIESHANG_BROKER_TIMEOUT": "3",
    "XIESHANG_JWT_KEYS_DIR": "/srv/keys",
    "XIESHANG_TOKEN_TTL": "600",
    "XIESHANG_REFRESH_TTL": "86400",
    "XIESHANG_JWKS_URL": "http://gateway:8080/.well-known/jwks.json",
    "XIESHANG_RATE_LIMIT": "120",
    "XIESHANG_TRUSTED_ADDRESSES": "10.0.0.0/8, ::1",
    "XIESHANG_LOGIN_MAX_FAILURES": "3",
    "XIESHANG_LOGIN_LOCK_SECONDS": "60",
    "XIESHANG_REGISTRATION_AREA": "341702001",
    "XIESHANG_UPSTREAM_TIMEOUT": "10",
    "XIESHANG_STREAM_POLL_SECONDS": "0.25",
    "XIESHANG_STREAM_MAX_SECONDS": "60",
    "XIESHANG_STREAM_MAX_PER_ACCOUNT": "3",
    "XIESHANG_STREAM_MAX_OPEN": "6",
    "XIESHANG_SUPPORT_THRESHOLD": "20",
    "XIESHANG_NOTICE_DAYS": "0",
    "XIESHANG_HEARING_NOTICE_DAYS": "10",
    "XIESHANG_JURISDICTION_ID": "340100000000",
    "XIESHANG_NOTIFY_PHONE_KEY": base64.b64encode(bytes(range(32))).decode(),
    "XIESHANG_NOTIFY_PHONE_KEY_PREVIOUS": base64.b64encode(bytes(range(1, 33))).decode(),
    "XIESHANG_SMS_PROVIDER": "Kannel",
    "XIESHANG_SMS_URL": "http://kannel:13013/cgi-bin/sendsms",
    "XIESHANG_SMS_USERNAME": "user",
    "XIESHANG_SMS_PASSWORD": "secret-password",
    "XIESHANG_SMS_SENDER": "1069000001",
    "XIESHANG_SMS_SIGNATURE": "合肥社区协商",
    "XIESHANG_SMS_MAX_PARTS": "2",
    "XIESHANG_SMS_RATE": "5",
    "XIESHANG_SMS_CONCURRENCY": "8",
    "XIESHANG_SMS_RETRY_DELAYS": "60,600",
    "XIESHANG_SMS_LEASE_SECONDS": "300",
    "XIESHANG_SMS_CALLBACK_URL": "https://gateway.example/api/v1/notify/sms",
    "XIESHANG_PUBLIC_URL": "https://xieshang.chizhou.example",
    "XIESHANG_SMS_RETENTION_DAYS": "30",
    "XIESHANG_SMS_POLL_SECONDS": "2",
    "XIESHANG_REMINDER_HOURS": "48",
    "XIESHANG_NOTIFY_CLOCK_SECONDS": "30",
    "XIESHANG_DEAD_LETTER_ALERT": "5",
    "XIESHANG_RATING_WINDOW_DAYS": "10",
    "XIESHANG_REOPEN_SHARE": "0.6",
    "XIESHANG_REMIND_BEFORE_WORKDAYS": "2",
    "XIESHANG_NOTICE_AFTER_WORKDAYS": "5",
    "XIESHANG_TRACKING_CLOCK_SECONDS": "30",
    "XIESHANG_COVERAGE_TARGET": "0.9",
    "XIESHANG_COVERAGE_DEADLINE": "2027-06-30",
    "XIESHANG_COVERAGE_WINDOW_MONTHS": "6",
    "XIESHANG_SILENT_MONTHS": "3",
    "XIESHANG_CORS_ORIGINS": "https://a.example/, http://localhost:5173",
    **{f"XIESHANG_{svc.upper()}_DATABASE_URL": f"postgresql+psycopg://pg/{svc}" for svc in DATABASES},
    **{f"XIESHANG_{svc.upper()}_URL": f"http://{svc}:8080" for svc in SERVICES},
}


def _conforms(value, hint) -> bool:
    """Whether ``value`` is an instance of the annotation ``hint`` (the few forms the settings use)."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return any(_conforms(value, arg) for arg in typing.get_args(hint))
    if origin is tuple:
        item, ellipsis = typing.get_args(hint)
        assert ellipsis is Ellipsis
        return isinstance(value, tuple) and all(_conforms(v, item) for v in value)
    if hint is type(None):
        return value is None
    if hint in (int, float):
        return type(value) is hint  # a bool is not an int setting, an int is not a float one
    return isinstance(value, hint)


def test_every_variable_is_a_declared_typed_field_and_every_field_a_variable():
    hints = typing.get_type_hints(Settings)
    declared = {f.name: f for f in dataclasses.fields(Settings)}
    assert [var.attr for var in VARIABLES] == list(declared), "VARIABLES follows the fields' order"
    assert set(hints) == set(declared), "no annotated attribute without a variable"
    for var in VARIABLES:
        declaration = declared[var.attr]
        assert declaration.metadata["env"] == var.name
        assert declaration.metadata["parse"] is var.parse
        assert declaration.metadata["help"] == var.help
        assert declaration.default == var.default
        assert _conforms(var.default, hints[var.attr]), f"{var.name}'s default is not a {hints[var.attr]}"
    assert len({var.name for var in VARIABLES}) == len(VARIABLES)
    assert {var.name for var in VARIABLES} == set(SAMPLE_ENVIRON)
    # Beyond the fields only methods and computed properties: no __getattr__, no hidden dict.
    assert "__getattr__" not in vars(Settings) and not hasattr(Settings, "values")
    public = {name for name in dir(Settings) if not name.startswith("_")}
    assert public - set(declared) == {"database_url", "service_url", "sqlite_url", "keys_dir", "uses_broker", "replace"}
    assert isinstance(Settings.keys_dir, property) and isinstance(Settings.uses_broker, property)


def test_sections_group_the_fields_in_the_variables_order():
    assert all(dataclasses.is_dataclass(section) and issubclass(Settings, section) for section in SECTIONS)
    in_sections = [f.name for section in SECTIONS for f in dataclasses.fields(section)]
    assert in_sections == [var.attr for var in VARIABLES]
    assert ServerSettings in SECTIONS and BusSettings in SECTIONS and NotifySettings in SECTIONS


def test_per_service_variables_are_declared_fields():
    declared = {f.name: f.metadata["env"] for f in dataclasses.fields(Settings)}
    for svc in DATABASES:
        assert declared[f"{svc}_database_url"] == f"XIESHANG_{svc.upper()}_DATABASE_URL"
    for svc in SERVICES:
        assert declared[f"{svc}_url"] == f"XIESHANG_{svc.upper()}_URL"


@pytest.mark.parametrize("environ", [{}, SAMPLE_ENVIRON], ids=["defaults", "every-variable-set"])
def test_parsed_values_have_the_declared_types(environ):
    settings = load_settings(environ)
    hints = typing.get_type_hints(Settings)
    for var in VARIABLES:
        value = getattr(settings, var.attr)
        assert _conforms(value, hints[var.attr]), f"{var.attr}={value!r} is not a {hints[var.attr]}"


def test_every_variable_set_is_parsed():
    settings = load_settings(SAMPLE_ENVIRON)
    assert settings.data_dir == Path("/srv/xieshang")
    assert settings.gauges_max_age == 30.0
    assert settings.log_level == "DEBUG"
    assert settings.sms_provider == "kannel"
    assert settings.sms_rate == 5.0 and settings.sms_max_parts == 2 and settings.sms_concurrency == 8
    assert settings.trusted_addresses == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1"))
    assert settings.cors_origins == ("https://a.example", "http://localhost:5173")
    assert settings.notify_phone_key == bytes(range(32))
    assert settings.notify_phone_key_previous == bytes(range(1, 33))
    assert settings.keys_dir == Path("/srv/keys")
    assert settings.uses_broker
    assert settings.database_url("gateway") == "postgresql+psycopg://pg/gateway"
    assert settings.service_url("tracking") == "http://tracking:8080"
    assert "secret-password" not in repr(settings), "secrets stay out of repr"


def test_empty_values_mean_the_default():
    settings = load_settings({"PORT": "", "XIESHANG_SMS_RATE": "", "XIESHANG_INTAKE_DATABASE_URL": ""})
    assert settings == load_settings({})
    assert settings.port == 8080 and settings.sms_rate == 20.0
    assert settings.keys_dir == Path("var") / "keys"
    assert settings.service_url("intake") is None


def test_bad_values_in_many_sections_give_one_error_naming_each():
    bad = {
        "XIESHANG_WEB_THREADS": "0",
        "XIESHANG_LOG_LEVEL": "loud",
        "XIESHANG_GAUGES_MAX_AGE_SECONDS": "nan",
        "XIESHANG_PREFETCH": "-1",
        "XIESHANG_JWKS_URL": "ftp://keys",
        "XIESHANG_TRUSTED_ADDRESSES": "10.0.0.300",
        "XIESHANG_NOTICE_DAYS": "-3",
        "XIESHANG_NOTIFY_PHONE_KEY": "c2hvcnQ=",
        "XIESHANG_SMS_PROVIDER": "pigeon",
        "XIESHANG_SMS_RATE": "fast",
        "XIESHANG_CORS_ORIGINS": "example.com",
        "XIESHANG_GATEWAY_DATABASE_URL": "mysql://db/gateway",
        "XIESHANG_NOTIFY_URL": "notify:8080",
    }
    with pytest.raises(ConfigError) as caught:
        load_settings({**SAMPLE_ENVIRON, **bad})
    problems = caught.value.problems
    assert len(problems) == len(bad)
    assert [problem.split("=", 1)[0] for problem in problems] == [v.name for v in VARIABLES if v.name in bad]
    for name, raw in bad.items():
        assert f"{name}={raw!r}: " in str(caught.value)
    assert "XIESHANG_SMS_PROVIDER='pigeon': must be one of file, kannel, http" in problems


def test_replace_returns_new_settings_with_those_attributes():
    settings = load_settings({})
    changed = settings.replace(sms_rate=5.0, port=9000)
    assert type(changed) is Settings
    assert (changed.sms_rate, changed.port) == (5.0, 9000)
    assert (settings.sms_rate, settings.port) == (20.0, 8080), "the original is unchanged"
    assert changed.amqp_url == settings.amqp_url
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.replace(no_such_setting=1)


def test_the_table_equals_the_readme_section():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("\n", readme.index("<!-- config:start")) + 1
    end = readme.index("<!-- config:end -->")
    assert readme[start:end].rstrip("\n") == configuration_table()
    assert configuration_table().count("\n") == len(VARIABLES) + 1
