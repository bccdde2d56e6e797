"""A small kustomize, for the kustomizations in ``k8s/`` when ``kubectl`` is not installed.

It does what those kustomizations use, and refuses anything else (so a new field in a
kustomization fails the tests instead of being ignored): ``resources`` (files and directories),
``namespace``, ``images`` (``newName``, ``newTag``), ``labels`` (``pairs`` without selectors or
templates) and ``patches`` (strategic merge, from a file, matched by the patch's kind and name or by
a ``target`` of kind, name and equality label selector; ``null`` removes a field, ``$patch: delete``
the object). Where ``kubectl`` is installed, ``tests/unit/test_deploy_k8s.py`` checks that both
render the same.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

KNOWN = {"apiVersion", "kind", "namespace", "resources", "images", "labels", "patches"}
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}
# Lists that a strategic merge patch merges item by item (Kubernetes' patchMergeKey); others are replaced.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
}


def load_documents(path: Path) -> list[dict]:
    # Through JSON: a YAML alias becomes a copy, as kustomize reads it, not one object in two places.
    return [json.loads(json.dumps(doc)) for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def render(directory: Path) -> list[dict]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    unknown = set(kustomization) - KNOWN
    if unknown:
        raise NotImplementedError(f"{directory}: this renderer does not do {sorted(unknown)}")
    objects: list[dict] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        objects += render(path) if path.is_dir() else load_documents(path)
    for patch in kustomization.get("patches", []):
        objects = _patched(objects, patch, directory)
    for labels in kustomization.get("labels", []):
        if labels.get("includeSelectors") or labels.get("includeTemplates"):
            raise NotImplementedError("labels on selectors or templates")
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(labels["pairs"])
    for image in kustomization.get("images", []):
        for obj in objects:
            _set_image(obj, image)
    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = kustomization["namespace"]
    return objects


def _patched(objects: list[dict], entry: dict, directory: Path) -> list[dict]:
    if set(entry) - {"path", "target"}:
        raise NotImplementedError(f"patch fields {sorted(set(entry) - {'path', 'target'})}")
    (patch,) = load_documents(directory / entry["path"])
    target = entry.get("target") or {"kind": patch["kind"], "name": patch["metadata"]["name"]}
    matched = [obj for obj in objects if _matches(obj, target)]
    if not matched:
        raise ValueError(f"patch {entry['path']} matches nothing")
    if patch.get("$patch") == "delete":
        return [obj for obj in objects if all(obj is not m for m in matched)]
    body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind", "metadata")}
    for obj in matched:
        merged = merge(obj, body)
        obj.clear()
        obj.update(merged)
    return objects


def _matches(obj: dict, target: dict) -> bool:
    if set(target) - {"kind", "name", "labelSelector"}:
        raise NotImplementedError(f"target fields {sorted(target)}")
    if "kind" in target and obj["kind"] != target["kind"]:
        return False
    if "name" in target and obj["metadata"]["name"] != target["name"]:
        return False
    labels = obj["metadata"].get("labels", {})
    for term in filter(None, target.get("labelSelector", "").split(",")):
        key, value = term.split("=")
        if labels.get(key.strip()) != value.strip():
            return False
    return True


def merge(base, patch, key: str | None = None):
    """Strategic merge of ``patch`` into ``base`` (a copy)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = copy.deepcopy(base)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = merge(out[k], v, k)
            else:
                out[k] = copy.deepcopy(v)
        return out
    if isinstance(base, list) and isinstance(patch, list) and key in MERGE_KEYS:
        name = MERGE_KEYS[key]
        out = copy.deepcopy(base)
        for item in patch:
            for i, existing in enumerate(out):
                if existing.get(name) == item.get(name):
                    out[i] = merge(existing, item)
                    break
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def _pod_specs(obj: dict):
    spec = obj.get("spec", {})
    if "containers" in spec:
        yield spec
    template = spec.get("template", {}).get("spec")
    if template:
        yield template
    job = spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
    if job:
        yield job


def _set_image(obj: dict, image: dict) -> None:
    for pod in _pod_specs(obj):
        for container in [*pod.get("containers", []), *pod.get("initContainers", [])]:
            name, tag = _split(container["image"])
            if name != image["name"]:
                continue
            new_name = image.get("newName", name)
            new_tag = image.get("newTag", tag)
            container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name


def _split(reference: str) -> tuple[str, str | None]:
    last = reference.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = reference.rsplit(":", 1)
        return name, tag
    return reference, None
