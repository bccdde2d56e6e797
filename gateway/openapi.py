"""One OpenAPI document for the whole public API, merged from the services' flask-smorest specs,
and the route templates the gateway labels its metrics with."""

from __future__ import annotations

import copy
import html
import re
from collections.abc import Mapping

REF_PREFIX = "#/components/schemas/"


def _rename_refs(node, renames: Mapping[str, str]):
    if isinstance(node, dict):
        return {
            key: (
                REF_PREFIX + renames.get(value[len(REF_PREFIX) :], value[len(REF_PREFIX) :])
                if key == "$ref" and isinstance(value, str) and value.startswith(REF_PREFIX)
                else _rename_refs(value, renames)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rename_refs(item, renames) for item in node]
    return node


def merge_specs(gateway_spec: dict, service_specs: Mapping[str, dict]) -> dict:
    """Paths of every service under one document; a schema name two services define differently
    is prefixed with the service's name (and its references follow)."""
    merged = copy.deepcopy(gateway_spec)
    merged["info"] = {
        "title": "Xieshang API",
        "version": "v1",
        "description": "社区协商平台公共接口。Every route needs a bearer token or an API key unless marked public.",
    }
    merged.setdefault("paths", {})
    components = merged.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    components.setdefault("securitySchemes", {}).update(
        {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
        }
    )
    merged["security"] = [{"bearer": []}, {"apiKey": []}]
    tags = {tag["name"]: tag for tag in merged.get("tags", [])}
    for service, spec in sorted(service_specs.items()):
        renames = {}
        for name, schema in spec.get("components", {}).get("schemas", {}).items():
            if name in schemas and schemas[name] != schema:
                renames[name] = f"{service.title()}{name}"
        for name, schema in spec.get("components", {}).get("schemas", {}).items():
            schemas[renames.get(name, name)] = _rename_refs(schema, renames)
        for path, item in spec.get("paths", {}).items():
            merged["paths"][path] = _rename_refs(item, renames)
        for tag in spec.get("tags", []):
            tags.setdefault(tag["name"], tag)
        for kind, items in spec.get("components", {}).items():
            if kind not in {"schemas", "securitySchemes"}:
                components.setdefault(kind, {}).update(items)
    merged["tags"] = sorted(tags.values(), key=lambda tag: tag["name"])
    return merged


# GeoReport v2 describes itself through ``discovery``, not OpenAPI; its paths are fixed by the spec.
OPEN311_TEMPLATES = [
    f"/open311/v2/{path}{suffix}"
    for path in (
        "discovery",
        "services",
        "services/{service_code}",
        "requests",
        "requests/{service_request_id}",
        "tokens/{token}",
    )
    for suffix in ("", ".{format}")
]


class RouteTemplates:
    """Maps a raw path to its OpenAPI template, so metrics are labelled per route, not per id."""

    def __init__(self, paths: list[str]):
        self._patterns = [
            (re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"), path)
            # The most literal text first: "/x/search" before "/x/{id}", "/x/{id}.{format}" before "/x/{id}".
            for path in sorted(paths, key=lambda p: -len(re.sub(r"\{[^}]*\}", "", p)))
        ]

    def match(self, path: str) -> str:
        for pattern, template in self._patterns:
            if pattern.match(path):
                return template
        return "<unmatched>"


def docs_page(spec: dict) -> str:
    """A browsable, self-contained page of the API (no script or CDN: the city's network may have none)."""
    rows = []
    for path, item in sorted(spec.get("paths", {}).items()):
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            summary = html.escape(operation.get("summary", "") or operation.get("description", "").split("\n")[0])
            tags = html.escape(", ".join(operation.get("tags", [])))
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                f"<td>{summary}</td><td>{tags}</td></tr>"
            )
    return (
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>协商平台 API</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:.3em .8em;border-bottom:1px solid #ddd}"
        "table{border-collapse:collapse}</style></head><body>"
        "<h1>协商平台 API 文档</h1><p>机器可读版本:<a href='/api/v1/openapi.json'>/api/v1/openapi.json</a>。"
        "除标注为公开的接口外,均需 Bearer 令牌或 X-Api-Key。</p>"
        "<table><tr><th>方法</th><th>路径</th><th>说明</th><th>分组</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
