"""The official API descriptions of GitHub and Azure DevOps, and the one check every loopback
stand-in runs on each request it receives and each answer it gives.

tests/contracts/ holds trimmed copies of the descriptions (README.md there says where each comes
from): only the operations the platform calls, with every schema they reference. `problems()` says
what in one exchange the description does not allow:
- the request: a documented operation (method and path template); only documented query
  parameters, each required one present, enum values as listed; Azure DevOps' api-version the one
  the description states; the JSON body valid against the request schema, no undeclared field;
- a 2xx answer: valid against the response schema with no undeclared field at any depth. Stand-ins
  may leave fields out (they answer only what the code reads: `required` is not enforced, and
  `oneOf` reads as `anyOf`), never invent one or change a type.
  Azure DevOps lists travel as {"count", "value"} (its examples), the value items as described.

`served()` is what the stand-ins call: the same check, and the exchange's operations counted as
exercised, so that test_contracts can tell every kept operation is one a test sends.

JSON Schema with OpenAPI's dialect translated: `nullable` becomes a null type, and every object
with listed properties refuses others (`unevaluatedProperties`, so that Azure DevOps' `allOf`
inheritance still counts the base's properties), except the bases themselves.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

CONTRACTS = Path(__file__).resolve().parent / "contracts"
# The Approval check's `settings`: CheckConfiguration's schema has no such property, but its own
# official example (POST__AddApprovalCheckConfiguration.json) sends and answers it; requesterCannotBeApprover
# is what "approver cannot approve own run" is called by microsoft/terraform-provider-azuredevops
# (azuredevops/internal/service/checks/resource_check_approval.go), the portal's own field.
APPROVAL_EXAMPLE = CONTRACTS / "azure_devops" / "POST__AddApprovalCheckConfiguration.json"
BEYOND_EXAMPLE = {"requesterCannotBeApprover": {"type": "boolean"}}
# Each operation a stand-in served in this process, as named(); with this variable set (a file), also
# appended there, one a line: how the coverage test hears of stand-in tests it runs in a subprocess.
EXERCISED: set[str] = set()
EXERCISED_FILE = "OFFICIAL_API_EXERCISED"


@dataclass(frozen=True)
class Operation:
    description: str  # which file: github/api.github.com.json, azure_devops/git.json, ...
    method: str
    template: str
    spec: dict[str, Any]
    registry: Registry  # the translated description, for requests
    relaxed: Registry  # the same without `required`, for answers


def _json_type(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI 3.0's `nullable` as JSON Schema."""
    if not schema.pop("nullable", False):
        return schema
    if "type" in schema:
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        return schema
    return {"anyOf": [schema, {"type": "null"}]}


def _bases(document: Any) -> set[str]:
    """References used as an `allOf` base: their properties are counted by the derived schema."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for item in node.get("allOf") or []:
                if isinstance(item, dict) and "$ref" in item:
                    found.add(item["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return found


def _translated(node: Any, bases: set[str], pointer: str, strict_here: bool = True) -> Any:
    if isinstance(node, list):
        return [_translated(value, bases, f"{pointer}/{index}") for index, value in enumerate(node)]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {
                name: _translated(item, bases, f"{pointer}/properties/{name}") for name, item in value.items()
            }
        elif key == "$ref":
            out[key] = f"urn:contract{value}"
        elif key == "allOf":
            out[key] = [
                _translated(item, bases, f"{pointer}/allOf/{index}", False)
                for index, item in enumerate(value)
            ]
        else:
            out[key] = _translated(value, bases, f"{pointer}/{key}")
    if (
        "properties" in out
        and "additionalProperties" not in out
        and strict_here
        and f"#{pointer}" not in bases
    ):
        out["unevaluatedProperties"] = False
    return _json_type(out)


def _settings_schema() -> dict[str, Any]:
    """The Approval check's settings, typed from the official example's values."""
    example = json.loads(APPROVAL_EXAMPLE.read_text(encoding="utf-8"))["parameters"]["body"]["settings"]
    kinds = {str: "string", int: "integer", bool: "boolean", list: "array", type(None): "null"}
    properties: dict[str, Any] = {}
    for name, value in example.items():
        if name == "approvers":
            approver = {key: {"type": ["string", "null"]} for key in value[0]}
            properties[name] = {
                "type": "array",
                "items": {"type": "object", "properties": approver, "additionalProperties": False},
            }
        elif name == "executionOrder":  # an enum: its name, as the example, or its number
            properties[name] = {"type": ["string", "integer"]}
        else:
            properties[name] = {"type": kinds[type(value)]}
    properties |= BEYOND_EXAMPLE
    return {"type": "object", "properties": properties, "additionalProperties": False}


@functools.cache
def _descriptions() -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(CONTRACTS.glob("*/*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if "paths" in document:
            found[path.relative_to(CONTRACTS).as_posix()] = document
    return found


@functools.cache
def operations() -> list[Operation]:
    """Every operation kept in tests/contracts/, with a validator over its own description."""
    found = []
    for name, document in _descriptions().items():
        translated = _translated(copy.deepcopy(document), _bases(document), "")
        if "CheckConfiguration" in translated.get("definitions", {}):
            translated["definitions"]["CheckConfiguration"]["properties"]["settings"] = _settings_schema()
        registry, relaxed = _registry(translated), _registry(_without_required(translated))
        for template, methods in translated["paths"].items():
            for method, spec in methods.items():
                found.append(Operation(name, method.upper(), template, spec, registry, relaxed))
    return found


def _registry(document: dict[str, Any]) -> Registry:
    return Registry().with_resource(
        "urn:contract", Resource.from_contents(document, default_specification=DRAFT202012)
    )


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
    return re.compile(regex, re.IGNORECASE if "/_apis/" in template else 0)  # Azure DevOps ignores case


def matching(method: str, path: str) -> list[Operation]:
    """The operations (one per description that has it) a request's method and raw path are."""
    return [
        operation
        for operation in operations()
        if operation.method == method and _pattern(operation.template).fullmatch(path)
    ]


def _parameters(operation: Operation, where: str) -> dict[str, dict[str, Any]]:
    resolved = {}
    for parameter in operation.spec.get("parameters") or []:
        if "$ref" in parameter:
            parameter = _lookup(operation, parameter["$ref"])
        if parameter.get("in") == where:
            resolved[parameter["name"]] = parameter
    return resolved


def _lookup(operation: Operation, ref: str) -> dict[str, Any]:
    node: Any = _descriptions()[operation.description]
    for part in ref.removeprefix("urn:contract#/").split("/"):
        node = node[part]
    return node


def api_version(operation: Operation) -> str | None:
    """The api-version Azure DevOps' description states ("should be set to '7.1'"); None on GitHub."""
    parameter = _parameters(operation, "query").get("api-version")
    if parameter is None:
        return None
    return re.search(r"set to '([^']+)'", parameter["description"])[1]


def _request_schema(operation: Operation) -> dict[str, Any] | None:
    if "requestBody" in operation.spec:
        return operation.spec["requestBody"]["content"]["application/json"]["schema"]
    body = [item for item in operation.spec.get("parameters") or [] if item.get("in") == "body"]
    return body[0]["schema"] if body else None


def _response_schema(operation: Operation, status: int) -> dict[str, Any] | None:
    answer = operation.spec["responses"].get(str(status))
    if answer is None:
        return None
    if "content" in answer:
        return (answer["content"].get("application/json") or {}).get("schema")
    return answer.get("schema")


def _without_required(node: Any) -> Any:
    """For answers, which may leave fields out: no `required`, and `oneOf` as `anyOf` (a partial
    object can fit two of the choices)."""
    if isinstance(node, dict):
        return {
            "anyOf" if key == "oneOf" else key: (
                {name: _without_required(item) for name, item in value.items()}
                if key == "properties"
                else _without_required(value)
            )
            for key, value in node.items()
            if key != "required"
        }
    if isinstance(node, list):
        return [_without_required(value) for value in node]
    return node


def _errors(validator: Draft202012Validator, instance: Any) -> list[str]:
    found = []
    for error in validator.iter_errors(instance):
        where = "/".join(str(part) for part in error.absolute_path) or "(top)"
        found.append(f"{where}: {error.message}")
    return found


def named(operation: Operation) -> str:
    return f"{operation.method} {operation.template} ({operation.description})"


def served(method: str, url: str, body: Any, status: int, answer: Any) -> list[str]:
    """A stand-in's exchange: its problems(), and its operations counted as exercised."""
    names = {named(operation) for operation in matching(method, urlsplit(url).path)}
    EXERCISED.update(names)
    if record := os.environ.get(EXERCISED_FILE):
        with open(record, "a", encoding="utf-8") as file:
            file.writelines(f"{name}\n" for name in sorted(names))
    return problems(method, url, body, status, answer)


def problems(method: str, url: str, body: Any, status: int, answer: Any) -> list[str]:
    """What in one exchange the official descriptions do not allow; [] when all of it is described."""
    parts = urlsplit(url)
    found = matching(method, parts.path)
    if not found:
        return [f"{method} {unquote(parts.path)}: no such operation in the official descriptions"]
    said = []
    query = parse_qsl(parts.query, keep_blank_values=True)
    for operation in found:
        where = f"{method} {operation.template} ({operation.description})"
        declared = _parameters(operation, "query")
        names = [name for name, _ in query]
        said += [
            f"{where}: query parameter {name!r} is not described" for name in names if name not in declared
        ]
        said += [
            f"{where}: required query parameter {name!r} missing"
            for name, parameter in declared.items()
            if parameter.get("required") and name not in names
        ]
        for name, value in query:
            listed = (declared.get(name) or {}).get("enum") or (declared.get(name) or {}).get(
                "schema", {}
            ).get("enum")
            if listed and value not in listed:
                said.append(f"{where}: {name}={value!r} is not one of {listed}")
        version = api_version(operation)
        if version is not None and dict(query).get("api-version") != version:
            said.append(f"{where}: api-version={dict(query).get('api-version')!r}, described: {version!r}")
        schema = _request_schema(operation)
        if body is not None and schema is None:
            said.append(f"{where}: sends a body the operation does not take")
        elif schema is not None:
            checked = Draft202012Validator(schema, registry=operation.registry)
            said += [f"{where}: request {error}" for error in _errors(checked, body)]
        if 200 <= status < 300 and answer is not None:
            schema = _response_schema(operation, status)
            if schema is None:
                said.append(f"{where}: answers {status}, which is not described")
                continue
            if schema.get("type") == "array" and "/_apis/" in operation.template:
                if not isinstance(answer, dict) or set(answer) != {"count", "value"}:
                    said.append(f"{where}: a list answers an object of count and value, not {answer!r}")
                    continue
                answer = answer["value"]
            checked = Draft202012Validator(_without_required(schema), registry=operation.relaxed)
            said += [f"{where}: answer {error}" for error in _errors(checked, answer)]
    return said
