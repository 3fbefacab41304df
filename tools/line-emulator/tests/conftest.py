"""Fixtures: in-process clients (httpx over ASGI), a real server for the SDK, spec samples."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi, AsyncMessagingApiBlob, Configuration

from cityhall.line_emulator import EmulatorSettings, create_app
from cityhall.line_emulator.spec import Spec, load_spec
from cityhall.line_emulator.testing import EmulatorServer

TOKEN = "test-channel-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="session")
def spec() -> Spec:
    return load_spec()


@pytest.fixture
def settings() -> EmulatorSettings:
    return EmulatorSettings(tokens=frozenset({TOKEN}))


@pytest.fixture
def app(settings: EmulatorSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://emulator", headers=AUTH
    ) as c:
        yield c


@pytest.fixture
def server(settings: EmulatorSettings) -> Iterator[EmulatorServer]:
    with EmulatorServer(settings) as running:
        yield running


@pytest.fixture
async def sdk(server: EmulatorServer) -> AsyncIterator[tuple[AsyncMessagingApi, AsyncMessagingApiBlob]]:
    """The official SDK, both hosts pointed at the emulator, as the project configures it."""
    config = Configuration(host=server.url, access_token=TOKEN)
    async with AsyncApiClient(config) as api_client:
        yield AsyncMessagingApi(api_client), AsyncMessagingApiBlob(api_client)


@pytest.fixture
def sample(spec: Spec) -> Callable[[str], Any]:
    """A minimal instance of a component schema, built from the spec itself."""
    return Sampler(spec).of


class Sampler:
    """Fills in each required property by its schema: enums take their first value, a
    discriminated parent its first subtype, a subtype the discriminator value naming it."""

    def __init__(self, spec: Spec) -> None:
        self.schemas: dict[str, Any] = spec.document["components"]["schemas"]
        self.tags: dict[str, tuple[str, str]] = {}
        for schema in self.schemas.values():
            discriminator = schema.get("discriminator")
            for value, ref in (discriminator or {}).get("mapping", {}).items():
                self.tags[ref.rsplit("/", 1)[1]] = (discriminator["propertyName"], value)

    def of(self, name: str) -> Any:
        schema = self.schemas[name]
        if "discriminator" in schema:
            first = next(iter(schema["discriminator"]["mapping"].values()))
            return self.of(first.rsplit("/", 1)[1])
        instance = self._value(schema)
        if name in self.tags:
            prop, value = self.tags[name]
            instance[prop] = value
        return instance

    def _value(self, schema: dict[str, Any]) -> Any:
        if "$ref" in schema:
            return self.of(schema["$ref"].rsplit("/", 1)[1])
        if "enum" in schema:
            return schema["enum"][0]
        properties, required = self._members(schema)
        kind = schema.get("type", "object" if properties or required else "string")
        if kind == "object":
            return {p: self._value(properties.get(p, {"type": "string"})) for p in required}
        if kind == "array":
            return [self._value(schema["items"]) for _ in range(max(1, schema.get("minItems", 1)))]
        if kind == "integer":
            return schema.get("minimum", 1)
        if kind == "number":
            return 1.0
        if kind == "boolean":
            return False
        if schema.get("format") == "uri":
            return "https://example.com/a.png"
        return "x" * max(1, schema.get("minLength", 1))

    def _members(self, schema: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        properties = dict(schema.get("properties", {}))
        required = list(schema.get("required", []))
        for part in schema.get("allOf", []):
            target = self.schemas[part["$ref"].rsplit("/", 1)[1]] if "$ref" in part else part
            more_properties, more_required = self._members(target)
            properties = {**more_properties, **properties}
            required += [r for r in more_required if r not in required]
        return properties, required


def png(width: int = 2500, height: int = 1686) -> bytes:
    """A real (grey) PNG of the given size, small once compressed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg_header(width: int, height: int) -> bytes:
    """SOI, an APP0 segment, then a baseline start-of-frame with the size: enough to read it."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


@pytest.fixture(scope="session")
def menu_png() -> bytes:
    return png()


def rich_menu_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "size": {"width": 2500, "height": 1686},
        "selected": True,
        "name": "main menu",
        "chatBarText": "メニュー",
        "areas": [
            {
                "bounds": {"x": 0, "y": 0, "width": 1250, "height": 1686},
                "action": {"type": "postback", "data": "domain=certificates"},
            },
            {
                "bounds": {"x": 1250, "y": 0, "width": 1250, "height": 1686},
                "action": {"type": "message", "label": "FAQ", "text": "FAQ"},
            },
        ],
    }
    body.update(overrides)
    return body


@pytest.fixture
def menu_body() -> Callable[..., dict[str, Any]]:
    return rich_menu_body


@pytest.fixture
def make_png() -> Callable[[int, int], bytes]:
    return png


@pytest.fixture
def make_jpeg_header() -> Callable[[int, int], bytes]:
    return jpeg_header


@pytest.fixture
async def client_with() -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """`client_with(monthly_quota=2)`: a client of an app with those settings (and TOKEN)."""
    clients: list[httpx.AsyncClient] = []

    def make(**overrides: Any) -> httpx.AsyncClient:
        app = create_app(EmulatorSettings(**{"tokens": frozenset({TOKEN}), **overrides}))
        c = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://emulator", headers=AUTH
        )
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()
