"""``GET /openapi.json`` (OpenAPI 3.1) built from the endpoint table and its pydantic models,
and ``GET /docs``, a self-contained page that renders it (no assets from the internet)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from bot import __version__
from bot.http.endpoint import JSON, Auth, Content, Endpoint
from bot.http.errors import ErrorBody

OPENAPI_DOCUMENT = web.AppKey("openapi_document", bytes)
_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"\{(\w+)\}")
_PATH_PARAMS = {
    "name": ("a file name", "console.css", r"^[a-z.]+$"),
    "incident_id": ("an incident id, INC-<n>", "INC-1", r"^INC-\d+$"),
    "approval_id": ("an approval id, APR-<n>", "APR-1", r"^APR-\d+$"),
}
_ERRORS = {
    400: "the body or a parameter is invalid (invalid_json, invalid_payload)",
    401: "no token, or a token that does not match (unauthorized)",
    403: "authenticated, but not allowed (forbidden)",
    404: "no such resource, or the feature is off (not_found)",
    408: "the body did not arrive within server.body_timeout (timeout)",
    409: "the resource is not in a state that allows this (conflict)",
    413: "the body is over the endpoint's limit, at most server.max_body_bytes (too_large)",
    502: "an upstream system refused the request (unavailable)",
    503: "the store or an upstream system cannot be reached, or Medic is full (unavailable)",
}
_AUTH: dict[Auth, list[dict[str, list[str]]] | None] = {
    Auth.NONE: None,
    Auth.READ: [{}, {"token": []}],
    Auth.TOKEN: [{"token": []}],
    Auth.WEBHOOK: [{}, {"webhook": []}],
    Auth.SIGNED: [{}],
    Auth.CONSOLE: [{}, {"token": []}],
}


def openapi_document(endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    """The OpenAPI 3.1 description of ``endpoints``."""
    schemas = _Schemas(endpoints)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Medic",
            "version": __version__,
            "description": "Medic's HTTP API: alerts in, incidents, runs and decisions out.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                "token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a personal token (server.api_users) acts as its user; "
                    "the bridge token (server.api_token) names the user in the body",
                },
                "webhook": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "alertmanager.bearer_token, when it is set",
                },
            },
        },
    }


class _Schemas:
    """JSON Schemas of every model the endpoints name, with shared ``$defs`` as components."""

    def __init__(self, endpoints: Iterable[Endpoint]) -> None:
        wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {
            (ErrorBody, "serialization"): None
        }
        for endpoint in endpoints:
            if endpoint.answer.model is not None:
                wanted[(endpoint.answer.model, "serialization")] = None
            if endpoint.request is not None and endpoint.request.model is not None:
                wanted[(endpoint.request.model, "validation")] = None
        refs, defs = models_json_schema(list(wanted), ref_template=_REF)
        self.refs = refs
        self.components: dict[str, Any] = defs.get("$defs", {})

    def ref(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        """A reference to ``model``'s schema."""
        return self.refs[(model, mode)]


def _operation(endpoint: Endpoint, schemas: _Schemas) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.handler.__name__,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "parameters": [*_path_parameters(endpoint.path), *_query_parameters(endpoint.query)],
        "responses": {
            str(endpoint.status): _content(endpoint.answer, schemas, "serialization", "success"),
            **{
                str(status): {
                    "description": _ERRORS[status],
                    "content": {JSON: {"schema": schemas.ref(ErrorBody, "serialization")}},
                }
                for status in endpoint.errors
            },
        },
    }
    operation["parameters"] += [
        {
            "name": name,
            "in": "header",
            "required": False,
            "description": text,
            "schema": {"type": "string"},
        }
        for name, text in endpoint.headers.items()
    ]
    security = _AUTH[endpoint.auth]
    if security is not None:
        operation["security"] = security
    if endpoint.request is not None:
        body = _content(endpoint.request, schemas, "validation", "the request body")
        operation["requestBody"] = {"required": True, **body}
    return operation


def _content(
    content: Content, schemas: _Schemas, mode: JsonSchemaMode, fallback: str
) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    if content.model is not None:
        schema = schemas.ref(content.model, mode)
    elif content.media == JSON:
        schema = {"type": "object"}
    else:
        schema = {"type": "string"}
    return {
        "description": content.description or fallback,
        "content": {content.media: {"schema": schema}},
    }


def _path_parameters(path: str) -> list[dict[str, Any]]:
    parameters = []
    for name in _PATH_PARAM.findall(path):
        description, example, pattern = _PATH_PARAMS[name]
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": description,
                "schema": {"type": "string", "pattern": pattern},
                "example": example,
            }
        )
    return parameters


def _query_parameters(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template=_REF)
    defs = schema.get("$defs", {})
    return [
        {
            "name": name,
            "in": "query",
            "required": field.is_required(),
            "description": field.description or "",
            "schema": _parameter_schema(schema["properties"][name], defs),
        }
        for name, field in model.model_fields.items()
    ]


def _parameter_schema(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: references inlined, the ``null`` of an optional dropped
    (an absent parameter is how a client leaves it out)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _parameter_schema(defs[name], defs)
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        merged = {k: v for k, v in schema.items() if k not in {"anyOf", "default"}}
        return merged | _parameter_schema(branches[0], defs)
    return {k: v for k, v in schema.items() if not (k == "default" and v is None)}


async def get_openapi(request: web.Request) -> web.Response:
    """This API's OpenAPI 3.1 description."""
    return web.Response(body=request.app[OPENAPI_DOCUMENT], content_type=JSON)


_DOCS_PAGE = (resources.files("bot.api") / "docs.html").read_text(encoding="utf-8")


async def get_docs(request: web.Request) -> web.Response:
    """A page that renders /openapi.json; it loads nothing from the internet."""
    return web.Response(text=_DOCS_PAGE, content_type="text/html", charset="utf-8")
