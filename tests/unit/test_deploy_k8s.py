"""k8s/: both overlays render, every object is valid offline (the Kubernetes schemas through
kubernetes-validate, the operators' resources against their published CRDs in deploy/schemas/),
every run target has a Deployment with the environment it needs, the PrometheusRule is the rule
files compose's Prometheus loads, and the NetworkPolicies let through only what they should."""

from __future__ import annotations

import copy
import importlib.util
import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from shared.bus.topology import Topology
from shared.config import DATABASES, SERVICES, load_settings
from tests.deploy import ROOT, TARGETS, crd_problems, crd_schemas, environment_problems, service_of
from tests.kustomize import render
from xieshang.server import API_DRAIN_SECONDS, PRESTOP_SECONDS, WORKER_DRAIN_SECONDS
from xieshang.targets import MODULES

K8S = ROOT / "k8s"
OVERLAYS = ("dev", "prod")
# The oldest Kubernetes the manifests are for: the preStop `sleep` action is on by default from 1.30.
KUBERNETES = "1.30.0"
NAMESPACE = "xieshang"
EXPANSION = re.compile(r"\$\(([A-Za-z0-9_]+)\)")  # the kubelet's $(VAR) in a value
# Secrets the manifests name and docs/operations.md tells how to create (or the operator makes).
SECRETS = {
    **{f"xieshang-db-{owner}": {"password"} for owner in DATABASES},
    "xieshang-rabbitmq-default-user": {"connection_string"},
    "xieshang-notify": {"phone-key", "phone-key-previous", "sms-password"},
}


def _generator():
    spec = importlib.util.spec_from_file_location("k8s_generate", ROOT / "deploy" / "k8s" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kubectl_kustomize(directory) -> list[dict]:
    out = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=True)
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request) -> tuple[str, list[dict]]:
    """(name, rendered objects): by ``kubectl kustomize`` where it is installed, else tests/kustomize.py."""
    directory = K8S / "overlays" / request.param
    objects = kubectl_kustomize(directory) if shutil.which("kubectl") else render(directory)
    return request.param, objects


def rendered(name: str) -> list[dict]:
    return render(K8S / "overlays" / name)


def of_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def key(obj: dict) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


# -- rendering ------------------------------------------------------------------------------------------
def test_the_generated_manifests_are_what_the_generator_writes():
    for path, text in _generator().files().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.relative_to(ROOT)}: run python deploy/k8s/generate.py"


def test_the_prometheus_rule_holds_every_group_of_the_rule_files_compose_loads(overlay):
    _, objects = overlay
    (rule,) = of_kind(objects, "PrometheusRule").values()
    files = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
    groups = [group for path in files for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]]
    assert rule["spec"]["groups"] == groups
    assert {g["name"] for g in groups} and len(files) >= 3


def test_an_overlay_renders_into_one_namespace_with_the_release_image(overlay):
    name, objects = overlay
    assert len({key(obj) for obj in objects}) == len(objects), "two objects of one kind share a name"
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == NAMESPACE, key(obj)
        assert obj["metadata"]["labels"]["xieshang.io/environment"] == name, key(obj)
    for workload in [*of_kind(objects, "Deployment").values(), *of_kind(objects, "Job").values()]:
        for container in workload["spec"]["template"]["spec"]["containers"]:
            assert container["image"].startswith("registry.example.org/xieshang:"), key(workload)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed: nothing to compare with")
@pytest.mark.parametrize("directory", ["base", "overlays/dev", "overlays/prod"])
def test_the_python_renderer_renders_what_kubectl_kustomize_does(directory):
    ours = {key(obj): obj for obj in render(K8S / directory)}
    theirs = {key(obj): obj for obj in kubectl_kustomize(K8S / directory)}
    assert ours == theirs


# -- schemas --------------------------------------------------------------------------------------------
def test_every_object_is_valid_against_the_kubernetes_schemas_or_its_published_crd(overlay):
    _, objects = overlay
    problems = []
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) in crd_schemas():
            problems += [f"{key(obj)} {p}" for p in crd_problems(obj)]
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{key(obj)} {'.'.join(map(str, error.path))}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{key(obj)}: neither a Kubernetes kind nor a CRD shipped in deploy/schemas/")
    assert problems == []


def test_the_custom_resources_of_every_operator_are_there_in_prod():
    kinds = {(obj["apiVersion"], obj["kind"]) for obj in rendered("prod")}
    assert set(crd_schemas()) <= kinds


def test_the_validators_refuse_a_misspelt_field():
    objects = {key(obj): obj for obj in rendered("prod")}
    deployment = copy.deepcopy(objects["Deployment", "intake-api"])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {"path": "/readyz"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)
    for kind, name, misspelt in [
        ("RabbitmqCluster", "xieshang-rabbitmq", "replica"),
        ("Cluster", "xieshang-pg-intake", "instance"),
        ("ScaledObject", "intake-worker", "maxReplicas"),
    ]:
        resource = copy.deepcopy(objects[kind, name])
        resource["spec"][misspelt] = 3
        assert crd_problems(resource), f"{kind} took spec.{misspelt}"


# -- the run targets ------------------------------------------------------------------------------------
def test_every_run_target_has_a_deployment_running_it(overlay):
    _, objects = overlay
    deployments = of_kind(objects, "Deployment")
    assert set(deployments) == set(TARGETS)
    for target, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["run", "--target", target]


def test_every_pod_is_probed_confined_and_given_the_time_its_drain_takes(overlay):
    _, objects = overlay
    for target, deployment in of_kind(objects, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0
        assert container["securityContext"]["readOnlyRootFilesystem"]
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert {"requests", "limits"} <= set(container["resources"])
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        empty = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        env = {item["name"]: item.get("value") for item in container["env"]}
        if MODULES[target].serves_http:
            assert mounts[env["PROMETHEUS_MULTIPROC_DIR"]] in empty, target
            assert container["lifecycle"]["preStop"]["sleep"]["seconds"] == PRESTOP_SECONDS
            assert pod["terminationGracePeriodSeconds"] > PRESTOP_SECONDS + API_DRAIN_SECONDS, target
        else:
            assert pod["terminationGracePeriodSeconds"] > WORKER_DRAIN_SECONDS, target
        assert mounts["/tmp"] in empty


def container_environment(container: dict, objects: list[dict]) -> tuple[dict[str, str], set[str], list[str]]:
    """A container's variables (Secret values as placeholders), those written out, and what is
    wrong with its references: a missing ConfigMap, an unknown Secret, a $(VAR) not defined before."""
    configmaps = of_kind(objects, "ConfigMap")
    env: dict[str, str] = {}
    literal: set[str] = set()
    problems = []
    for source in container.get("envFrom", []):
        data = configmaps[source["configMapRef"]["name"]]["data"]
        env.update(data)
        literal.update(data)
    for item in container.get("env", []):
        name = item["name"]
        if "value" in item:
            for ref in EXPANSION.findall(item["value"]):
                if ref not in env:
                    problems.append(f"{name} expands $({ref}), not defined before it")
            env[name] = item["value"]
            if "$(" not in item["value"]:
                literal.add(name)
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            if ref["key"] not in SECRETS.get(ref["name"], ()):
                problems.append(f"{name} reads {ref['name']}/{ref['key']}, a Secret docs/operations.md does not name")
            env[name] = f"<{ref['name']}/{ref['key']}>"
    return env, literal, problems


def test_every_target_is_given_what_it_needs_and_nothing_the_code_does_not_read(overlay):
    _, objects = overlay
    problems = []
    for target, deployment in of_kind(objects, "Deployment").items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env, literal, wrong = container_environment(container, objects)
        problems += [f"{target}: {p}" for p in wrong] + environment_problems(target, env, literal)
        own = f"XIESHANG_{service_of(target).upper()}_DATABASE_URL"
        others = {f"XIESHANG_{o.upper()}_DATABASE_URL" for o in DATABASES} - {own}
        assert not others & set(env), f"{target} is given another service's database"
    assert problems == []


def test_the_migration_job_migrates_every_database_before_the_release_is_synced(overlay):
    _, objects = overlay
    (job,) = of_kind(objects, "Job").values()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["db", "upgrade"]
    env, _, problems = container_environment(container, objects)
    assert problems == []
    assert {f"XIESHANG_{owner.upper()}_DATABASE_URL" for owner in DATABASES} <= set(env)
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync"


def test_no_secret_value_is_in_the_repository(overlay):
    _, objects = overlay
    assert not of_kind(objects, "Secret")
    for workload in [*of_kind(objects, "Deployment").values(), *of_kind(objects, "Job").values()]:
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for item in container["env"]:
                if any(word in item["name"] for word in ("PASSWORD", "KEY", "SECRET")) and "value" in item:
                    assert item["value"].startswith("/"), f"{item['name']} is written out"  # a path, not a value


# -- scaling --------------------------------------------------------------------------------------------
def test_http_targets_scale_on_cpu_and_workers_on_their_queue_in_prod():
    objects = rendered("prod")
    autoscalers = of_kind(objects, "HorizontalPodAutoscaler")
    assert set(autoscalers) == {t for t in TARGETS if MODULES[t].serves_http}
    topology = Topology()
    scaled = of_kind(objects, "ScaledObject")
    assert set(scaled) == {f"{s}-worker" for s in SERVICES}
    for name, scaler in scaled.items():
        (trigger,) = scaler["spec"]["triggers"]
        assert trigger["type"] == "rabbitmq"
        assert trigger["metadata"]["queueName"] == topology.queue_name(service_of(name))
        assert scaler["spec"]["scaleTargetRef"]["name"] == name
        assert "replicas" not in of_kind(objects, "Deployment")[name]["spec"], "KEDA owns the count"
    for name, budget in of_kind(objects, "PodDisruptionBudget").items():
        assert budget["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == name


def test_dev_runs_one_of_everything_without_keda():
    objects = rendered("dev")
    assert not of_kind(objects, "ScaledObject")
    assert all(d["spec"]["replicas"] == 1 for n, d in of_kind(objects, "Deployment").items() if n.endswith("-worker"))
    assert of_kind(objects, "RabbitmqCluster")["xieshang-rabbitmq"]["spec"]["replicas"] == 1
    assert all(c["spec"]["instances"] == 1 and "backup" not in c["spec"] for c in of_kind(objects, "Cluster").values())
    assert not of_kind(objects, "ScheduledBackup")


# -- the operators --------------------------------------------------------------------------------------
def test_rabbitmq_is_a_three_node_cluster_and_the_services_declare_quorum_queues():
    objects = rendered("prod")
    assert of_kind(objects, "RabbitmqCluster")["xieshang-rabbitmq"]["spec"]["replicas"] == 3
    config = of_kind(objects, "ConfigMap")["xieshang-config"]["data"]
    assert load_settings(config).quorum_queues


def test_each_database_has_its_cluster_with_backups_in_prod():
    objects = rendered("prod")
    clusters = of_kind(objects, "Cluster")
    assert set(clusters) == {f"xieshang-pg-{owner}" for owner in DATABASES}
    for owner in DATABASES:
        spec = clusters[f"xieshang-pg-{owner}"]["spec"]
        assert spec["instances"] == 3
        assert spec["bootstrap"]["initdb"] == {
            "database": owner,
            "owner": owner,
            "secret": {"name": f"xieshang-db-{owner}"},
        }
        assert spec["backup"]["barmanObjectStore"]["destinationPath"].endswith(f"/xieshang-pg-{owner}")
    backups = of_kind(objects, "ScheduledBackup")
    assert {b["spec"]["cluster"]["name"] for b in backups.values()} == set(clusters)


def test_the_service_monitor_scrapes_every_target_as_the_rules_expect():
    objects = rendered("prod")
    monitor = of_kind(objects, "ServiceMonitor")["xieshang"]
    selected = {
        name
        for name, svc in of_kind(objects, "Service").items()
        if monitor["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    }
    assert selected == set(TARGETS)
    assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/name"  # job="xieshang", as XieshangTargetDown reads
    assert (
        of_kind(objects, "Ingress")["gateway"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
        == "gateway"
    )


# -- network policies -----------------------------------------------------------------------------------
class Pods:
    """Pods by name with their labels and namespace, for asking what the NetworkPolicies admit."""

    def __init__(self, objects: list[dict]):
        self.policies = list(of_kind(objects, "NetworkPolicy").values())
        self.pods: dict[str, tuple[str, dict]] = {}
        for kind in ("Deployment", "Job"):
            for name, obj in of_kind(objects, kind).items():
                self.pods[name] = (NAMESPACE, obj["spec"]["template"]["metadata"]["labels"])
        # What the operators label their pods with.
        self.pods["rabbitmq"] = (NAMESPACE, {"app.kubernetes.io/name": "xieshang-rabbitmq"})
        for owner in DATABASES:
            self.pods[f"pg-{owner}"] = (NAMESPACE, {"cnpg.io/cluster": f"xieshang-pg-{owner}"})
        for namespace in ("ingress-nginx", "monitoring", "rabbitmq-system", "cnpg-system", "keda", "elsewhere"):
            self.pods[namespace] = (namespace, {"app": namespace})

    def admits(self, source: str, destination: str, port: int) -> bool:
        src_ns, src_labels = self.pods[source]
        dst_ns, dst_labels = self.pods[destination]
        selecting = [p for p in self.policies if selects(p["spec"]["podSelector"], dst_labels) and dst_ns == NAMESPACE]
        if not selecting:
            return True
        for policy in selecting:
            for rule in policy["spec"].get("ingress", []):
                ports = [p["port"] for p in rule.get("ports", [])]
                if ports and port not in ports:
                    continue
                if "from" not in rule:  # from anywhere
                    return True
                if any(self._peer(peer, src_ns, src_labels) for peer in rule["from"]):
                    return True
        return False

    @staticmethod
    def _peer(peer: dict, namespace: str, labels: dict) -> bool:
        if "namespaceSelector" in peer:
            if not selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace}):
                return False
        elif namespace != NAMESPACE:
            return False
        return selects(peer.get("podSelector", {}), labels)


def selects(selector: dict, labels: dict) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        value, present = labels.get(expression["key"]), expression["key"] in labels
        op = expression["operator"]
        if (op == "In" and value not in expression["values"]) or (
            op == "NotIn" and present and value in expression["values"]
        ):
            return False
        if (op == "Exists" and not present) or (op == "DoesNotExist" and present):
            return False
    return True


@pytest.fixture(scope="module")
def pods() -> Pods:
    return Pods(rendered("prod"))


def test_from_outside_only_the_gateway_is_reachable_through_the_ingress_controller(pods):
    assert pods.admits("ingress-nginx", "gateway", 8080)
    for target in TARGETS:
        assert not pods.admits("elsewhere", target, 8080), target
        if target != "gateway":
            assert not pods.admits("ingress-nginx", target, 8080), target
    assert not pods.admits("ingress-nginx", "rabbitmq", 5672)
    assert not pods.admits("ingress-nginx", "pg-gateway", 5432)


def test_only_the_gateway_reaches_the_service_apis_and_prometheus_every_target(pods):
    for service in SERVICES:
        assert pods.admits("gateway", f"{service}-api", 8080)
        assert not pods.admits("meetings-worker", f"{service}-api", 8080)
    for target in TARGETS:
        assert pods.admits("monitoring", target, 8080)
    assert pods.admits("intake-api", "gateway", 8080), "services fetch the gateway's JWKS"


def test_only_the_services_reach_the_broker(pods):
    for target in TARGETS:
        assert pods.admits(target, "rabbitmq", 5672) == (target != "gateway"), target
    assert not pods.admits("xieshang-migrate", "rabbitmq", 5672)
    assert pods.admits("keda", "rabbitmq", 5672)


def test_each_service_reaches_only_its_own_database(pods):
    for target in TARGETS:
        for owner in DATABASES:
            assert pods.admits(target, f"pg-{owner}", 5432) == (service_of(target) == owner), (target, owner)
    for owner in DATABASES:
        assert pods.admits("xieshang-migrate", f"pg-{owner}", 5432)
        assert pods.admits("cnpg-system", f"pg-{owner}", 8000)
        assert not pods.admits("elsewhere", f"pg-{owner}", 5432)


def secret_names(node) -> set[str]:
    """Every Secret an object names: env and volume references, TLS, credentials of the operators."""
    found = set()
    if isinstance(node, dict):
        for field, value in node.items():
            if field in ("secretKeyRef", "s3Credentials") or (field == "secret" and "secretName" in value):
                refs = value.values() if field == "s3Credentials" else [value]
                found |= {ref.get("name") or ref.get("secretName") for ref in refs}
            elif field == "secretName" and isinstance(value, str):
                found.add(value)
            elif field == "secretTargetRef":
                found |= {ref["name"] for ref in value}
            found |= secret_names(value)
    elif isinstance(node, list):
        for item in node:
            found |= secret_names(item)
    return found


def test_operations_says_how_each_secret_the_manifests_name_is_made():
    names = secret_names(rendered("prod"))
    assert {"xieshang-gateway-keys", "xieshang-backup-s3", "xieshang-tls", "xieshang-notify"} <= names
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    made_per_owner = {f"xieshang-db-{owner}" for owner in DATABASES}
    assert "xieshang-db-$owner" in guide and "for owner in intake meetings tracking notify gateway" in guide
    assert [name for name in sorted(names - made_per_owner) if name not in guide] == []
