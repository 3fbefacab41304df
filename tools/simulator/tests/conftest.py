"""Fixtures: the real LINE emulator, a recording gateway and the simulator, each on a real port."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from cityhall.line_emulator import EmulatorSettings
from cityhall.line_emulator.testing import EmulatorServer
from cityhall.simulator.actions import SimulatorConfig
from cityhall.simulator.app import create_app
from cityhall.simulator.testing import RecordingGateway, WebhookSchema

SECRET = "simulator-test-channel-secret"
TOKEN = "simulator-test-token"


@pytest.fixture(scope="session")
def schema() -> WebhookSchema:
    return WebhookSchema()


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorSettings(tokens=frozenset({TOKEN}))) as server:
        yield server


@pytest.fixture
def gateway() -> Iterator[tuple[RecordingGateway, str]]:
    recorder = RecordingGateway(SECRET)
    with EmulatorServer(app=recorder.app) as server:  # a plain uvicorn thread for any app
        yield recorder, server.url


def make_config(emulator: EmulatorServer, callback_url: str, data_dir: Path) -> SimulatorConfig:
    return SimulatorConfig(
        channel_secret=SECRET,
        access_token=TOKEN,
        line_api_url=emulator.url,
        callback_url=callback_url,
        data_dir=data_dir,
    )


@pytest.fixture
def config(
    emulator: EmulatorServer, gateway: tuple[RecordingGateway, str], tmp_path: Path
) -> SimulatorConfig:
    return make_config(emulator, f"{gateway[1]}/callback", tmp_path)


@pytest.fixture
async def simulator(config: SimulatorConfig) -> AsyncIterator[httpx.AsyncClient]:
    app, _ = create_app(config)  # its HTTP client lives and dies with the server thread's loop
    with EmulatorServer(app=app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield client


def png(width: int, height: int) -> bytes:
    """A one-colour PNG (the emulator checks a rich menu image's real dimensions)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\x06\xc7\x55" * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )
