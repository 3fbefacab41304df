"""LINE's OpenAPI spec (cityhall.line.openapi's messaging-api.yml): parsing it once, and validating JSON bodies against it.

The spec is OpenAPI 3.0; its schemas become JSON Schema (draft 7) definitions, checked with
jsonschema-rs (a 500-recipient multicast validates in microseconds, where a pure-Python
validator spends milliseconds: the emulator must keep up with notify's multicast fan-out).
Two rewrites make OpenAPI's schemas plain JSON Schema:

- a `discriminator` (Message, Action, FlexComponent, ...) becomes a dispatch on the
  discriminating property: unknown values are rejected and known ones are checked
  against the mapped schema (`if type == "text" then TextMessage`);
- the mapped schemas include their parent with `allOf`; that reference goes to the
  parent *without* its dispatch, otherwise the check would recurse forever.

`nullable: true` becomes a `"null"` type. Everything else is already JSON Schema.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema_rs
import yaml

from cityhall.line import openapi

_REF_PREFIX = "#/components/schemas/"
_DEF_PREFIX = "#/definitions/"
_BASE_SUFFIX = "__base"

JSON = Any


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of LINE's `details` array."""

    message: str
    property: str

    def as_json(self) -> dict[str, str]:
        return {"message": self.message, "property": self.property}


class _SpecLoader(yaml.CSafeLoader):
    """YAML 1.1 would turn unquoted example timestamps into datetimes; keep them strings."""


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


class Spec:
    """The parsed spec plus one compiled validator per component schema (built on demand)."""

    def __init__(self, document: dict[str, JSON]) -> None:
        self.document = document
        components: dict[str, JSON] = document["components"]["schemas"]
        self.definitions = _to_json_schema_definitions(components)
        self._validators: dict[str, jsonschema_rs.Validator] = {}
        self._lock = threading.Lock()

    def has_schema(self, name: str) -> bool:
        return name in self.document["components"]["schemas"]

    def validator(self, schema_name: str) -> jsonschema_rs.Validator:
        with self._lock:
            found = self._validators.get(schema_name)
            if found is None:
                if not self.has_schema(schema_name):
                    raise KeyError(schema_name)
                root = {"allOf": [{"$ref": _DEF_PREFIX + schema_name}], "definitions": self.definitions}
                found = jsonschema_rs.Draft7Validator(root)
                self._validators[schema_name] = found
            return found

    def validate(self, schema_name: str, instance: JSON) -> list[ErrorDetail]:
        """Every violation of `components.schemas[schema_name]`, LINE-style; [] when valid."""
        validator = self.validator(schema_name)
        if validator.is_valid(instance):  # the common case, without building errors
            return []
        details: dict[tuple[str, str], ErrorDetail] = {}
        for error in validator.iter_errors(instance):
            detail = _detail(error)
            # The dispatch and the mapped schema both include the parent: drop the echo.
            details.setdefault((detail.property, detail.message), detail)
        return sorted(details.values(), key=lambda d: d.property)

    def operation(self, path: str, method: str) -> dict[str, JSON]:
        return dict(self.document["paths"][path][method.lower()])


@cache
def load_spec() -> Spec:
    """Parse the spec once per process; it is ~180 KB of YAML."""
    return Spec(yaml.load(openapi.read_document(openapi.MESSAGING_API), Loader=_SpecLoader))


# --- OpenAPI 3.0 schema -> JSON Schema -------------------------------------------------------


def _to_json_schema_definitions(components: Mapping[str, JSON]) -> dict[str, JSON]:
    discriminated = {name for name, schema in components.items() if "discriminator" in schema}
    definitions: dict[str, JSON] = {}
    for name, schema in components.items():
        converted = _convert(schema, discriminated)
        discriminator = converted.pop("discriminator", None)
        if discriminator is None:
            definitions[name] = converted
            continue
        definitions[name + _BASE_SUFFIX] = converted
        definitions[name] = _dispatch(name, discriminator)
    return definitions


def _dispatch(name: str, discriminator: Mapping[str, JSON]) -> dict[str, JSON]:
    prop = discriminator["propertyName"]
    mapping: Mapping[str, str] = discriminator.get("mapping", {})
    branches = [
        {
            "if": {"properties": {prop: {"const": value}}, "required": [prop]},
            "then": {"$ref": _local_ref(target)},
        }
        for value, target in mapping.items()
    ]
    return {
        # OpenAPI requires the discriminating property; LINE rejects an object without it.
        "required": [prop],
        "properties": {prop: {"type": "string", "enum": list(mapping)}},
        "allOf": [{"$ref": _DEF_PREFIX + name + _BASE_SUFFIX}, *branches],
    }


def _local_ref(ref: str) -> str:
    if not ref.startswith(_REF_PREFIX):
        raise ValueError(f"unsupported $ref {ref}")
    return _DEF_PREFIX + ref[len(_REF_PREFIX) :]


def _convert(schema: JSON, discriminated: set[str], *, in_all_of: bool = False) -> JSON:
    """Rewrite one schema object, descending only into keywords that hold schemas."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, JSON] = {}
    for key, value in schema.items():
        if key == "$ref":
            target = value[len(_REF_PREFIX) :] if value.startswith(_REF_PREFIX) else None
            out[key] = _local_ref(value)
            if in_all_of and target in discriminated:
                out[key] += _BASE_SUFFIX  # a subtype including its parent
        elif key in ("properties", "patternProperties"):
            out[key] = {prop: _convert(sub, discriminated) for prop, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = _convert(value, discriminated)
        elif key == "allOf":
            out[key] = [_convert(sub, discriminated, in_all_of=True) for sub in value]
        elif key in ("oneOf", "anyOf"):
            out[key] = [_convert(sub, discriminated) for sub in value]
        elif key in ("example", "examples", "externalDocs", "description", "xml"):
            continue  # documentation only
        else:
            out[key] = value
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


# --- jsonschema errors -> LINE's details --------------------------------------------------


def json_path(parts: Iterable[str | int]) -> str:
    """`["messages", 0, "text"]` -> `messages[0].text`, the way LINE names properties."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _detail(error: jsonschema_rs.ValidationError) -> ErrorDetail:
    path = list(error.instance_path)
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        return ErrorDetail("Must be specified", json_path([*path, kind.property]))
    value = kind.value
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Enum):
        message = f"Must be one of the following values: [{', '.join(map(str, value))}]"
    elif isinstance(kind, jsonschema_rs.ValidationErrorKind.Type):
        message = f"Must be of type {' or '.join(kind.types)}"
    else:
        message = _MESSAGES.get(kind.name, "{message}").format(limit=value, message=error.message)
    return ErrorDetail(message, json_path(path))


_MESSAGES = {
    "maxItems": "Size must be at most {limit}",
    "minItems": "Size must be at least {limit}",
    "maxLength": "Length must be at most {limit}",
    "minLength": "Length must be at least {limit}",
    "maximum": "Must be less than or equal to {limit}",
    "minimum": "Must be greater than or equal to {limit}",
    "pattern": "Must match the pattern {limit}",
}
