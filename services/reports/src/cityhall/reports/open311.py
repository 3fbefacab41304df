"""Open311 GeoReport v2 as this town speaks it (pure): the service list from the categories, the
attributes of the categories that ask questions, statuses, API keys, and the json/xml shapes
(https://wiki.open311.org/GeoReport_v2). Served by reports-public at /open311/v2/."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

from cityhall.reports.categories import CATEGORIES, DEPARTMENTS, Category

CLOSED = frozenset({"resolved", "rejected", "duplicate"})


@dataclass(frozen=True)
class Attribute:
    code: str
    description: str
    datatype: str
    """"string" or "singlevaluelist" (the spec's names)."""
    required: bool = False
    values: Mapping[str, str] | None = None


ATTRIBUTES: dict[str, tuple[Attribute, ...]] = {
    "streetlight": (Attribute("pole", "街灯の柱の番号（柱に貼ってある札の番号）", "string"),),
    "animal": (
        Attribute(
            "size",
            "動物の大きさ",
            "singlevaluelist",
            True,
            {"small": "猫より小さい", "large": "猫より大きい"},
        ),
    ),
}
"""The categories that ask questions, and their questions."""


def by_code(code: str) -> Category | None:
    return next((c for c in CATEGORIES.values() if c.open311_code == code), None)


def status(report_status: str) -> str:
    return "closed" if report_status in CLOSED else "open"


def new_key() -> str:
    return "o311_" + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """What is stored of a key (it is random: a plain hash is enough)."""
    return hashlib.sha256(key.encode()).hexdigest()


def service(category: Category) -> dict[str, Any]:
    return {
        "service_code": category.open311_code,
        "service_name": category.name,
        "description": f"{category.name}（担当：{DEPARTMENTS[category.department].name}）",
        "metadata": category.key in ATTRIBUTES,
        "type": "realtime",
        "keywords": category.key,
        "group": DEPARTMENTS[category.department].name,
    }


def services() -> list[dict[str, Any]]:
    return [service(c) for c in CATEGORIES.values()]


def definition(category: Category) -> dict[str, Any]:
    return {
        "service_code": category.open311_code,
        "attributes": [
            {
                "variable": True,
                "code": a.code,
                "datatype": a.datatype,
                "required": a.required,
                "datatype_description": None,
                "order": order,
                "description": a.description,
                "values": [{"key": k, "name": v} for k, v in (a.values or {}).items()],
            }
            for order, a in enumerate(ATTRIBUTES.get(category.key, ()), start=1)
        ],
    }


class Open311Error(Exception):
    """A request the API refuses: the spec's `{code, description}` with that HTTP status."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


def answers(category: Category, form: Mapping[str, str]) -> list[str]:
    """The client's answers (`attribute[<code>]`) as lines for the description; refuses a missing
    required answer or a value not in the list."""
    lines = []
    for a in ATTRIBUTES.get(category.key, ()):
        value = form.get(f"attribute[{a.code}]", "").strip()
        if not value:
            if a.required:
                raise Open311Error(
                    400, f"attribute[{a.code}] is required for service_code {category.open311_code}"
                )
            continue
        if a.values is not None:
            if value not in a.values:
                raise Open311Error(400, f"attribute[{a.code}] must be one of {', '.join(a.values)}")
            value = a.values[value]
        lines.append(f"【{a.description}】{value[:200]}")
    return lines


def parse_request_ids(raw: str) -> list[str]:
    return [r.strip().upper() for r in raw.split(",") if r.strip()][:100]


# --- rendering -------------------------------------------------------------------------------


def _xml_value(parent: ET.Element, name: str, value: Any) -> None:
    child = ET.SubElement(parent, name)
    if isinstance(value, bool):
        child.text = "true" if value else "false"
    elif isinstance(value, list):
        for item in value:
            _xml_item(child, "value" if name == "values" else name.rstrip("s"), item)
    elif value is not None:
        child.text = str(value)


def _xml_item(parent: ET.Element, name: str, item: Mapping[str, Any]) -> None:
    element = ET.SubElement(parent, name)
    for key, value in item.items():
        _xml_value(element, key, value)


def xml(root: str, item: str, items: Sequence[Mapping[str, Any]]) -> bytes:
    """`<root><item>…</item>…</root>`, as the spec's XML examples nest them."""
    top = ET.Element(root)
    for entry in items:
        _xml_item(top, item, entry)
    body: bytes = ET.tostring(top, encoding="utf-8", xml_declaration=True)
    return body


def xml_definition(item: Mapping[str, Any]) -> bytes:
    top = ET.Element("service_definition")
    _xml_value(top, "service_code", item["service_code"])
    attributes = ET.SubElement(top, "attributes")
    for attribute in item["attributes"]:
        _xml_item(attributes, "attribute", attribute)
    body: bytes = ET.tostring(top, encoding="utf-8", xml_declaration=True)
    return body
