"""Extract a CustomResourceDefinition's ``openAPIV3Schema`` for one served version, as JSON.

    git show <commit>:<path> | python deploy/schemas/extract_crd.py v1 > deploy/schemas/<kind>.json

Descriptions are dropped (they are most of a CRD's size and validate nothing); every other keyword
is kept as published. The tests close the objects themselves (``tests/unit/deploy_manifests.py``).
"""

from __future__ import annotations

import json
import sys

import yaml


def without_descriptions(node):
    if isinstance(node, dict):
        return {k: without_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [without_descriptions(v) for v in node]
    return node


def main() -> int:
    version = sys.argv[1]
    crd = yaml.safe_load(sys.stdin)
    for served in crd["spec"]["versions"]:
        if served["name"] == version:
            schema = without_descriptions(served["schema"]["openAPIV3Schema"])
            schema["x-crd"] = {"group": crd["spec"]["group"], "kind": crd["spec"]["names"]["kind"], "version": version}
            json.dump(schema, sys.stdout, sort_keys=True, separators=(",", ":"))
            sys.stdout.write("\n")
            return 0
    print(f"no version {version} in {crd['metadata']['name']}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
