"""The OpenAPI 3.1 document, generated from the declarations the handlers validate with.

A room declares each route once with ``Api.get``/``Api.post``: the path, the pydantic
model of its query string and of its body, and the model of its JSON answer. The
handler parses its input with those same models (``parse_query``, ``parse_body``), and
``openapi_document`` turns them into JSON Schema (pydantic's own, draft 2020-12, which
OpenAPI 3.1 uses as is). Nothing is written by hand beside the code, so the document
cannot drift from what the handlers accept.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from callpool.catalog.spec import parse_spec

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)
FILE_TYPES = {
    "text/csv": "CSV (UTF-8; ?bom=true adds a BOM for Excel)",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx workbook",
    "application/pdf": "PDF, A4",
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str  # as aiohttp routes it: {name} or {name:regex}
    summary: str
    tag: str
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    role: str | None = "viewer"  # None: public
    files: bool = False  # ?format=csv|xlsx|pdf answers a file

    @property
    def openapi_path(self) -> str:
        return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", self.path)


class Api:
    """A room's routes and their declarations, registered together."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.routes = web.RouteTableDef()
        self.endpoints: list[Endpoint] = []

    def route(
        self, method: str, path: str, summary: str, **kwargs: Any
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.endpoints.append(Endpoint(method, path, summary, self.tag, **kwargs))
            self.routes.route(method, path)(handler)
            return handler

        return register

    def get(self, path: str, summary: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, summary, **kwargs)

    def post(self, path: str, summary: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, summary, **kwargs)


def parse_query(model: type[M], request: web.Request) -> M:
    """The query string as ``model``; a repeated key becomes a list."""
    data: dict[str, Any] = {}
    for key in request.query:
        values = request.query.getall(key)
        data[key] = values if len(values) > 1 or _is_list(model, key) else values[0]
    return parse_spec(model, data)  # type: ignore[type-var]


def _is_list(model: type[BaseModel], key: str) -> bool:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return "list" in str(field.annotation) or "tuple" in str(field.annotation)
    return False


def openapi_document(endpoints: Iterable[Endpoint], *, version: str) -> dict[str, Any]:
    """OpenAPI 3.1 for ``endpoints``; models land in ``components.schemas``."""
    schemas: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        operation: dict[str, Any] = {
            "summary": e.summary,
            "tags": [e.tag],
            "operationId": f"{e.method.lower()}_{_slug(e.openapi_path)}",
            "parameters": _path_parameters(e) + _query_parameters(e, schemas),
            "responses": _responses(e, schemas),
        }
        if e.role is not None:
            operation["security"] = [{"bearer": []}]
            operation["description"] = f"Needs a token of the {e.role} role (or higher)."
        if e.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(e.body, schemas, "validation")}},
            }
        paths.setdefault(e.openapi_path, {})[e.method.lower()] = operation
    schemas["Error"] = {
        "type": "object",
        "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "callpool", "version": version},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")


def _ref(model: type[BaseModel], schemas: dict[str, Any], mode: str) -> dict[str, Any]:
    schema = model.model_json_schema(
        ref_template="#/components/schemas/{model}",
        mode=mode,  # type: ignore[arg-type]
    )
    for name, sub in schema.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    schemas.setdefault(model.__name__, schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _path_parameters(e: Endpoint) -> list[dict[str, Any]]:
    out = []
    for name, pattern in re.findall(r"\{(\w+)(?::([^}]*))?\}", e.path):
        schema: dict[str, Any] = {"type": "integer"} if pattern == r"\d+" else {"type": "string"}
        out.append({"name": name, "in": "path", "required": True, "schema": schema})
    return out


def _query_parameters(e: Endpoint, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    if e.query is None:
        return []
    schema = e.query.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema.get("properties", {}).items():
        parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            parameter["description"] = prop["description"]
        if prop.get("type") == "array" or "array" in str(prop.get("anyOf", "")):
            parameter["explode"] = True
        out.append(parameter)
    return out


def _responses(e: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    content: dict[str, Any] = {}
    if e.response is not None:
        content["application/json"] = {"schema": _ref(e.response, schemas, "serialization")}
    if e.files:
        for media, what in FILE_TYPES.items():
            content[media] = {"schema": {"type": "string", "contentMediaType": media,
                                         "description": what}}  # fmt: skip
    ok: dict[str, Any] = {"description": "OK"}
    if content:
        ok["content"] = content
    out: dict[str, Any] = {str(e.status): ok, "400": {"description": "Bad input", "content": error}}
    if e.role is not None:
        out["401"] = {"description": "No or unknown token", "content": error}
        out["403"] = {"description": "The token's role is too low", "content": error}
    out["404"] = {"description": "Unknown or not visible", "content": error}
    return out


def served_paths(app: web.Application, skip_prefixes: Iterable[str] = ()) -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every route the app serves (HEAD and OPTIONS aside)."""
    found = set()
    for route in app.router.routes():
        info: Mapping[str, Any] = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        if path is None or route.method in ("HEAD", "OPTIONS"):
            continue
        if any(str(path).startswith(p) for p in skip_prefixes):
            continue
        found.add((route.method, str(path)))
    return found
