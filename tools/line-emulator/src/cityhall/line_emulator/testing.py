"""For other test suites: the emulator on a real port, in a thread of the test process.

    with EmulatorServer() as emulator:
        config = Configuration(host=emulator.url, access_token="any")
        ...
        emulator.state.messages(to="U...")   # or GET {emulator.url}/_inspect/messages

In-process ASGI clients cannot hold a Server-Sent Events stream open, and the SDK talks
aiohttp to a host, so both need a listening server.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from cityhall.line_emulator.app import create_app
from cityhall.line_emulator.settings import EmulatorSettings
from cityhall.line_emulator.state import Emulator, EmulatorState


class EmulatorServer:
    """uvicorn on 127.0.0.1 and a free port, started on enter and stopped on exit."""

    def __init__(self, settings: EmulatorSettings | None = None, app: FastAPI | None = None) -> None:
        self.app = app if app is not None else create_app(settings)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,  # open /_inspect/stream readers must not hold exit
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="line-emulator", daemon=True)
        self.url = ""

    @property
    def emulator(self) -> Emulator:
        emulator: Emulator = self.app.state.emulator
        return emulator

    @property
    def state(self) -> EmulatorState:
        return self.emulator.state

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        # uvicorn flips `started` from its own thread once the socket listens.
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the LINE emulator did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
