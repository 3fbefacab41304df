"""The postback codec: the one way a button's data is written and read.

A postback's data is a query string naming the domain that owns the tap, the action, and the
action's parameters: `domain=certificates&action=copies&r=<request>&n=2`. Every service and the
gateway encode and decode it here, with one set of limits: data longer than LINE accepts
(`PostbackAction.data`, 300 characters in messaging-api.yml), too many fields, a repeated key
or text that is not a query string is malformed, and decodes to nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qsl, urlencode

MAX_DATA = 300
"""LINE's limit for a postback action's data (messaging-api.yml, `PostbackAction.data`)."""
MAX_FIELDS = 20
"""Fields in one postback's data, domain and action included."""
RESERVED = ("domain", "action")


class PostbackTooLong(ValueError):
    """Encoding would produce data that LINE refuses."""


@dataclass(frozen=True)
class Postback:
    domain: str
    """The domain named by the data; "" when the data names none."""
    action: str = ""
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def get(self, key: str, default: str = "") -> str:
        return self.params.get(key, default)

    def uuid(self, key: str) -> uuid.UUID | None:
        """The id in field `key` (32 hex digits, as `encode` writes a uuid's `.hex`), or None when
        it is missing or not one: a forged or garbled button names nothing."""
        value = self.get(key)
        if len(value) != 32:
            return None
        try:
            return uuid.UUID(hex=value)
        except ValueError:
            return None


def encode(domain: str, action: str, /, **params: str | int) -> str:
    """The data of a button: `domain`, `action`, then `params` in the order given."""
    clash = set(params) & set(RESERVED)
    if clash:
        raise ValueError(f"{sorted(clash)} are the codec's own keys")
    if len(params) + len(RESERVED) > MAX_FIELDS:
        raise PostbackTooLong(f"{len(params) + len(RESERVED)} fields, at most {MAX_FIELDS}")
    data = urlencode({"domain": domain, "action": action, **params})
    if len(data) > MAX_DATA:
        raise PostbackTooLong(f"{len(data)} characters, LINE accepts {MAX_DATA}")
    return data


def decode(data: str | None) -> Postback | None:
    """The postback in `data`, or None when it is missing or malformed (see the module's limits)."""
    if not data or len(data) > MAX_DATA:
        return None
    try:
        pairs = parse_qsl(data, keep_blank_values=True, strict_parsing=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        return None
    values = dict(pairs)
    if len(values) != len(pairs):
        return None  # a repeated key: which one is meant cannot be told
    domain = values.pop("domain", "")
    action = values.pop("action", "")
    return Postback(domain, action, MappingProxyType(values))
