"""What the deployment tests share: the published schemas shipped in ``deploy/schemas/``, the
environment a target needs where the code's default does not fit a deployment, and a resolved
environment's problems. Used by ``tests/unit/test_deploy_k8s.py`` and ``test_deploy_compose.py``."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import jsonschema

from shared.config import SERVICES, VARIABLES, ConfigError, load_settings
from xieshang.targets import MODULES

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "deploy" / "schemas"
CODE = ("shared", "services", "gateway", "web", "xieshang")
# Every run target a deployment runs in its own processes (``all`` is the one-process trial).
TARGETS = tuple(name for name in MODULES if name != "all")
_READ = re.compile(r"""os\.(?:environ(?:\.get)?\s*[\[(]|getenv\()\s*["']([A-Z][A-Z0-9_]*)["']""")


@cache
def variables_read_by_code() -> frozenset[str]:
    """The declared settings and every variable the code reads straight from the environment."""
    names = {variable.name for variable in VARIABLES}
    for package in CODE:
        for path in (ROOT / package).rglob("*.py"):
            names.update(_READ.findall(path.read_text(encoding="utf-8")))
    return frozenset(names)


def service_of(target: str) -> str:
    return "gateway" if target == "gateway" else target.rsplit("-", 1)[0]


def needed(target: str, env: dict[str, str]) -> dict[str, str]:
    """The variables ``target`` must be given in a deployment, each with why: where the code's
    default is the embedded trial's (SQLite, the in-memory bus, the loopback) or a per-process file
    that replicas would not share."""
    service = service_of(target)
    need = {
        "XIESHANG_HOST": "the default listens on the loopback only",
        "XIESHANG_DATA_DIR": "the default is var/ under the working directory",
        f"XIESHANG_{service.upper()}_DATABASE_URL": "the default is a SQLite file of one pod",
    }
    if service in SERVICES:
        need["XIESHANG_AMQP_URL"] = "the default is the in-process bus"
        need["XIESHANG_QUORUM_QUEUES"] = "queue types must be chosen for the broker (cluster or one node)"
        need["XIESHANG_JWKS_URL"] = "services hold no keys: they verify with the gateway's public keys"
    else:
        need.update({f"XIESHANG_{s.upper()}_URL": "the gateway's upstream" for s in SERVICES})
        need["XIESHANG_JWT_KEYS_DIR"] = "the signing keys every gateway replica shares"
    if MODULES[target].serves_http:
        need["PROMETHEUS_MULTIPROC_DIR"] = "gunicorn's processes share their metrics through it"
    if service == "notify":
        need["XIESHANG_NOTIFY_PHONE_KEY"] = "the API and the worker must share the phone key"
        if env.get("XIESHANG_SMS_PROVIDER") in ("kannel", "http"):
            need["XIESHANG_SMS_URL"] = "where SMS go"
            need["XIESHANG_SMS_PASSWORD"] = "the provider's credentials"
            need["XIESHANG_SMS_CALLBACK_URL"] = "delivery reports are asked for only with it"
        if env.get("XIESHANG_SMS_PROVIDER") == "kannel":
            need["XIESHANG_SMS_USERNAME"] = "Kannel's sendsms-user"
    return need


def environment_problems(target: str, env: dict[str, str], literal: set[str]) -> list[str]:
    """What is wrong with a target's resolved environment: a needed variable missing, a variable
    the code does not read (a typo: silently ignored otherwise), a literal value the settings refuse.
    ``literal`` names the variables whose value is written out (not from a Secret or expanded)."""
    problems = [f"{target}: {name} is not set ({why})" for name, why in needed(target, env).items() if name not in env]
    known = variables_read_by_code()
    for name in env:
        if (name.startswith("XIESHANG_") or name == "PORT") and name not in known and not _helper(name, env):
            problems.append(f"{target}: {name} is set but no code reads it")
    try:
        load_settings({name: value for name, value in env.items() if name in literal})
    except ConfigError as refused:
        problems += [f"{target}: {problem}" for problem in refused.problems]
    return problems


def _helper(name: str, env: dict[str, str]) -> bool:
    """A variable only there to be expanded into another one ($(NAME) in Kubernetes)."""
    return any(f"$({name})" in value for value in env.values())


# -- published schemas --------------------------------------------------------------------------------
@cache
def crd_schemas() -> dict[tuple[str, str], dict]:
    """The shipped openAPIV3Schema of each custom resource, by (apiVersion, kind), closed."""
    found = {}
    for path in SCHEMAS.glob("*.json"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        crd = schema.pop("x-crd", None)
        if crd is not None:
            found[(f"{crd['group']}/{crd['version']}", crd["kind"])] = closed(schema)
    return found


def closed(node):
    """A CRD schema whose objects refuse fields they do not declare: the API server would prune an
    unknown (misspelt) field silently, so the tests refuse it instead."""
    if isinstance(node, list):
        return [closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: closed(value) for key, value in node.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def crd_problems(obj: dict) -> list[str]:
    schema = crd_schemas()[(obj["apiVersion"], obj["kind"])]
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(obj)
    ]


@cache
def compose_schema() -> dict:
    return json.loads((SCHEMAS / "compose-spec.json").read_text(encoding="utf-8"))
