"""Open311 GeoReport v2 as an OpenAPI document, for the fuzzer: the platform's document leaves it
out (services/intake/open311.py describes itself through discovery), so this one is written from
GeoReport's specification and the module's notes. The JSON format of every route; the form
encoded ``POST requests`` is the way in that writes. The jurisdiction, the service codes and the
community a request names are any string, or one the platform knows (as a client reads them from
discovery and ``services.json``), so that some requests get past the look-ups."""

from __future__ import annotations

PREFIX = "/open311/v2"

_NULLABLE_STRING = {"type": "string", "nullable": True}
ERRORS = {
    "description": "GeoReport's errors",
    "content": {
        "application/json": {
            "schema": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["code", "description"],
                    "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
                },
            }
        }
    },
}


def _known_or_any(values: list[str]) -> dict:
    return {"anyOf": [{"type": "string", "enum": values}, {"type": "string"}]}


REQUEST = {
    "type": "object",
    "required": ["service_request_id", "status", "service_code", "requested_datetime", "updated_datetime"],
    "properties": {
        "service_request_id": {"type": "string"},
        "status": {"type": "string", "enum": ["open", "closed"]},
        "status_notes": _NULLABLE_STRING,
        "service_name": {"type": "string"},
        "service_code": {"type": "string"},
        "description": _NULLABLE_STRING,
        "agency_responsible": _NULLABLE_STRING,
        "service_notice": _NULLABLE_STRING,
        "requested_datetime": {"type": "string", "format": "date-time"},
        "updated_datetime": {"type": "string", "format": "date-time"},
        "expected_datetime": _NULLABLE_STRING,
        "address": _NULLABLE_STRING,
        "address_id": _NULLABLE_STRING,
        "zipcode": _NULLABLE_STRING,
        "lat": {"type": "number", "nullable": True},
        "long": {"type": "number", "nullable": True},
        "media_url": _NULLABLE_STRING,
    },
}


def _answer(description: str, schema: dict, status: str = "200") -> dict:
    return {
        status: {"description": description, "content": {"application/json": {"schema": schema}}},
        "400": ERRORS,
        "403": ERRORS,
        "404": ERRORS,
    }


def _read(summary: str, schema: dict, jurisdiction: dict, parameters: list | None = None) -> dict:
    return {
        "get": {
            "summary": summary,
            "security": [],
            "parameters": [
                {"name": "jurisdiction_id", "in": "query", "required": False, "schema": jurisdiction},
                *(parameters or []),
            ],
            "responses": _answer(summary, schema),
        }
    }


def _path(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}


FORM = {
    "type": "object",
    "required": ["service_code", "attribute[community_code]"],
    "properties": {
        "attribute[title]": {"type": "string"},
        "description": {"type": "string"},
        "lat": {"type": "number"},
        "long": {"type": "number"},
        "address_string": {"type": "string"},
        "account_id": {"type": "string"},
        "media_url": {"type": "string"},
        # Personal data a GeoReport client may send; the platform ignores it.
        "email": {"type": "string"},
        "phone": {"type": "string"},
        "first_name": {"type": "string"},
        "last_name": {"type": "string"},
        "device_id": {"type": "string"},
    },
}
CREATED = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["service_request_id", "service_notice"],
        "properties": {
            "service_request_id": {"type": "string"},
            "service_notice": {"type": "string"},
            "account_id": _NULLABLE_STRING,
        },
    },
}


def document(jurisdiction_id: str, vocabulary: dict[str, list[str]]) -> dict:
    """``vocabulary``: ``tests.fuzz.world.World.vocabulary`` (its categories and communities)."""
    jurisdiction = _known_or_any([jurisdiction_id])
    services = {"type": "array", "items": {"type": "object", "required": ["service_code", "service_name"]}}
    definition = {"type": "object", "required": ["service_code", "attributes"]}
    requests = {"type": "array", "items": REQUEST}
    filters = [_query(name) for name in ("service_request_id", "service_code", "start_date", "end_date", "status")]
    listing = _read("Requests of the jurisdiction", requests, jurisdiction, filters)
    form = {
        **FORM,
        "properties": {
            "jurisdiction_id": jurisdiction,
            "service_code": _known_or_any(vocabulary["category"]),
            "attribute[community_code]": _known_or_any(vocabulary["community"]),
            **FORM["properties"],
        },
    }
    listing["post"] = {
        "summary": "Raise a matter (form encoded)",
        "security": [{"bearer": []}],
        "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": form}}},
        "responses": _answer("Created", CREATED, "201"),
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Xieshang Open311 GeoReport v2 (JSON)", "version": "v2"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            f"{PREFIX}/discovery.json": _read("Discovery", {"type": "object", "required": ["endpoints"]}, jurisdiction),
            f"{PREFIX}/services.json": _read("Services", services, jurisdiction),
            f"{PREFIX}/services/{{service_code}}.json": _read(
                "A service", definition, jurisdiction, [_path("service_code")]
            ),
            f"{PREFIX}/requests.json": listing,
            f"{PREFIX}/requests/{{service_request_id}}.json": _read(
                "A request", requests, jurisdiction, [_path("service_request_id")]
            ),
            f"{PREFIX}/tokens/{{token}}.json": _read("A token", {"type": "array"}, jurisdiction, [_path("token")]),
        },
    }
