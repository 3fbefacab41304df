"""Test support: run an ASGI app on a real 127.0.0.1 port in a background thread.

The simulator talks to the emulator and the gateway over HTTP (and streams Server-Sent
Events), so its tests run each part as a real server rather than through an in-process
transport.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """`with ServerThread(app) as url:` serves `app` until the block ends."""

    def __init__(self, app: Any, port: int | None = None, startup_timeout: float = 20.0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=f"server:{self.port}", daemon=True)
        self.startup_timeout = startup_timeout

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.02)
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class WebhookSchema:
    """LINE's webhook.yml, checked with `jsonschema` as LINE's platform would shape the body.

    OpenAPI's `discriminator` is not JSON Schema, so each object is also checked against the
    schema its discriminator maps to (the event by `type`, the source by `type`, the message
    by `type`), and its keys against the properties that schema (with its `allOf` parents)
    declares: an event is shaped exactly as LINE sends it, nothing missing and nothing extra.
    """

    URI = "urn:line:webhook.yml"

    def __init__(self, spec_dir: Any = None) -> None:
        import yaml
        from cityhall.line_emulator.spec import find_spec_dir
        from jsonschema import Draft4Validator
        from referencing import Registry
        from referencing.jsonschema import DRAFT4

        path = (spec_dir or find_spec_dir()) / "webhook.yml"
        self.spec: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.schemas: dict[str, Any] = self.spec["components"]["schemas"]
        registry: Registry[Any] = Registry().with_resource(
            self.URI, DRAFT4.create_resource(self.spec)
        )
        self._validator = lambda name: Draft4Validator(
            {"$ref": f"{self.URI}#/components/schemas/{name}"}, registry=registry
        )

    def errors(self, name: str, instance: Any) -> list[str]:
        return [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in self._validator(name).iter_errors(instance)
        ]

    def properties(self, name: str) -> set[str]:
        """Every property the named schema declares, through `allOf` and `$ref`."""
        schema = self.schemas[name]
        found = set(schema.get("properties", {}))
        for part in schema.get("allOf", []):
            if "$ref" in part:
                found |= self.properties(part["$ref"].rsplit("/", 1)[1])
            else:
                found |= set(part.get("properties", {}))
        return found

    def _mapped(self, base: str, instance: dict[str, Any]) -> str:
        mapping = self.schemas[base]["discriminator"]["mapping"]
        kind = instance.get("type")
        if kind not in mapping:
            raise AssertionError(f"{base} type {kind!r} is not one of {sorted(mapping)}")
        return str(mapping[kind].rsplit("/", 1)[1])

    def _check(self, name: str, instance: dict[str, Any], where: str, problems: list[str]) -> None:
        problems += [f"{where}{e}" for e in self.errors(name, instance)]
        extra = set(instance) - self.properties(name)
        if extra:
            problems.append(f"{where}: {name} declares no {sorted(extra)}")

    def problems(self, body: dict[str, Any]) -> list[str]:
        """Everything wrong with a webhook request body; empty when LINE could have sent it."""
        problems = [f"body/{e}" for e in self.errors("CallbackRequest", body)]
        if set(body) - {"destination", "events"}:
            problems.append(f"body: unexpected keys {sorted(set(body) - {'destination', 'events'})}")
        for i, event in enumerate(body.get("events", [])):
            where = f"events/{i}"
            self._check(self._mapped("Event", event), event, where, problems)
            if "source" in event:
                self._check(
                    self._mapped("Source", event["source"]), event["source"], f"{where}/source", problems
                )
            if "message" in event:
                name = self._mapped("MessageContent", event["message"])
                self._check(name, event["message"], f"{where}/message", problems)
                provider = event["message"].get("contentProvider")
                if provider is not None:
                    self._check("ContentProvider", provider, f"{where}/message/contentProvider", problems)
            for part, schema in (
                ("deliveryContext", "DeliveryContext"),
                ("postback", "PostbackContent"),
                ("follow", "FollowDetail"),
            ):
                if part in event:
                    self._check(schema, event[part], f"{where}/{part}", problems)
        return problems
