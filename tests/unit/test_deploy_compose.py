"""docker-compose.yml: valid against the Compose Specification's schema (deploy/schemas/), every run
target a service started after the migration with every variable it needs (interpolated from
.env.example), health checks and a stop grace period above the code's drain, a role and a database
per service, and Prometheus loading the rule files k8s/'s PrometheusRule is generated from."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import jsonschema
import pytest
import yaml

from shared.config import DATABASES
from tests.deploy import ROOT, TARGETS, compose_schema, environment_problems, service_of
from xieshang.server import API_DRAIN_SECONDS, WORKER_DRAIN_SECONDS
from xieshang.targets import MODULES

COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
# $$, ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}, $NAME
INTERPOLATION = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value
    return values


def interpolate(text: str, values: dict[str, str]) -> str:
    """Compose's interpolation: a required variable missing from ``values`` is an error, as compose says."""

    def one(match: re.Match) -> str:
        escaped, name, operator, argument, bare = match.groups()
        if escaped:
            return "$"
        name = name or bare
        value = values.get(name)
        if operator in (":?", "?") and (value is None or (operator == ":?" and value == "")):
            raise AssertionError(f"{name} is required ({argument}) and .env.example does not set it")
        if operator == ":-" and not value:
            return argument
        if operator == "-" and value is None:
            return argument
        return value or ""

    return INTERPOLATION.sub(one, text)


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(interpolate(COMPOSE.read_text(encoding="utf-8"), env_example()))


def test_the_compose_file_is_valid_against_the_compose_specification(compose):
    errors = sorted(jsonschema.Draft7Validator(compose_schema()).iter_errors(compose), key=str)
    assert [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors] == []


def test_every_variable_it_interpolates_is_in_env_example_and_nothing_else_is():
    used = {m.group(2) or m.group(5) for m in INTERPOLATION.finditer(COMPOSE.read_text(encoding="utf-8"))} - {None}
    assert used == set(env_example())


def test_every_run_target_has_a_service_started_after_the_migration(compose):
    services = compose["services"]
    runs = {s["command"][2]: name for name, s in services.items() if s.get("command", [])[:2] == ["run", "--target"]}
    assert set(runs) == set(TARGETS)
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for target, name in runs.items():
        assert name == target
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["rabbitmq"]["condition"] == depends["postgres"]["condition"] == "service_healthy", name
    assert {f"{s}-api" for s in ("intake", "meetings", "tracking", "notify")} <= set(services["gateway"]["depends_on"])


def test_every_target_is_given_what_it_needs_and_nothing_the_code_does_not_read(raw, compose):
    problems = []
    for target in (*TARGETS, "migrate"):
        env = {name: str(value) for name, value in compose["services"][target]["environment"].items()}
        literal = {name for name, value in raw["services"][target]["environment"].items() if "$" not in str(value)}
        if target == "migrate":
            missing = {f"XIESHANG_{owner.upper()}_DATABASE_URL" for owner in DATABASES} - set(env)
            problems += [f"migrate: {name} is not set" for name in missing]
            continue
        problems += environment_problems(target, env, literal)
        owner = service_of(target)
        url = env[f"XIESHANG_{owner.upper()}_DATABASE_URL"]
        assert url.startswith(f"postgresql+psycopg://{owner}:"), f"{target} connects as its own role"
        others = {f"XIESHANG_{o.upper()}_DATABASE_URL" for o in DATABASES if o != owner}
        assert not others & set(env), f"{target} is given another service's database"
    assert problems == []


def test_services_are_health_checked_and_targets_given_the_time_their_drain_takes(compose):
    for name, service in compose["services"].items():
        if name != "migrate":
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    for target in TARGETS:
        drain = API_DRAIN_SECONDS if MODULES[target].serves_http else WORKER_DRAIN_SECONDS
        grace = compose["services"][target]["stop_grace_period"]
        assert int(grace.removesuffix("s")) > drain, target


def test_postgres_creates_a_role_and_a_database_for_each_service_at_its_first_start(compose):
    postgres = compose["services"]["postgres"]
    assert "./deploy/postgres/init.sh:/docker-entrypoint-initdb.d/init.sh:ro" in postgres["volumes"]
    script = (ROOT / "deploy" / "postgres" / "init.sh").read_text(encoding="utf-8")
    (owners,) = re.findall(r"^for owner in (.+); do$", script, re.MULTILINE)
    assert owners.split() == list(DATABASES)
    assert {f"{owner.upper()}_DB_PASSWORD" for owner in DATABASES} <= set(postgres["environment"])


def test_prometheus_loads_the_rule_files_the_prometheus_rule_is_generated_from(compose):
    volumes = compose["services"]["prometheus"]["volumes"]
    assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in volumes
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    scraped = {t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    assert {f"{target}:8080" for target in TARGETS} <= scraped
    assert (
        "./deploy/grafana/dashboards:/var/lib/grafana/dashboards/xieshang:ro"
        in compose["services"]["grafana"]["volumes"]
    )


def test_kannel_is_a_profile_whose_parts_share_one_network(compose):
    services = compose["services"]
    assert {name for name, s in services.items() if "sms" in s.get("profiles", [])} == {"kannel", "smsbox", "fakesmsc"}
    assert services["smsbox"]["network_mode"] == services["fakesmsc"]["network_mode"] == "service:kannel"
    address = services["kannel"]["networks"]["default"]["ipv4_address"]
    assert services["gateway"]["environment"]["XIESHANG_TRUSTED_ADDRESSES"] == address
    assert not any("profiles" in services[target] for target in TARGETS)


def test_only_the_gateway_publishes_a_port_and_every_volume_is_named(compose):
    assert [name for name, s in compose["services"].items() if s.get("ports")] == ["gateway"]
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert volume.endswith(":ro"), f"{name} mounts {source} writable"
            else:
                assert source in compose["volumes"], f"{name}: volume {source} is not declared"


@pytest.mark.skipif(shutil.which("envsubst") is None, reason="envsubst (gettext-base) is not installed")
def test_kannels_entrypoint_renders_the_template_opening_only_sendsms_to_the_network(compose, tmp_path):
    service = compose["services"]["kannel"]
    conf = tmp_path / "kannel.conf"
    env = {
        **{name: str(value) for name, value in service["environment"].items()},
        "PATH": os.environ["PATH"],
        "KANNEL_CONF": str(conf),
        "KANNEL_TEMPLATE": str(ROOT / "deploy" / "kannel" / "kannel.conf.template"),
    }
    entrypoint = ROOT / "deploy" / "compose" / "kannel" / "entrypoint.sh"
    subprocess.run(["sh", str(entrypoint), "true"], env=env, check=True)  # render, then run `true`
    text = conf.read_text(encoding="utf-8")
    settings = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert not [line for line in settings if "$" in line], "every placeholder replaced"
    assert "sendsms-port = 13013" in settings and not [s for s in settings if s.startswith("sendsms-interface")]
    assert 'user-allow-ip = "*.*.*.*"' in settings
    assert "box-allow-ip = 127.0.0.1" in settings and "admin-allow-ip = 127.0.0.1" in settings
    assert "smsbox-port = 13001" in settings and "port = 13010" in settings
