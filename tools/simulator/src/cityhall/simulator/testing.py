"""Test support: LINE's webhook schema as a checker of what the simulator sends.

Used by the simulator's own tests and by the browser tests (imports its dev dependencies,
jsonschema and pyyaml, lazily: production code never imports this module).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request, Response


class WebhookSchema:
    """LINE's webhook.yml, checked with `jsonschema` as LINE's platform would shape the body.

    OpenAPI's `discriminator` is not JSON Schema, so each object is also checked against the
    schema its discriminator maps to (the event by `type`, the source by `type`, the message
    by `type`), and its keys against the properties that schema (with its `allOf` parents)
    declares: an event is shaped exactly as LINE sends it, nothing missing and nothing extra.
    """

    URI = "urn:line:webhook.yml"

    def __init__(self) -> None:
        import yaml
        from jsonschema import Draft4Validator
        from referencing import Registry
        from referencing.jsonschema import DRAFT4

        from cityhall.line import openapi

        self.spec: dict[str, Any] = yaml.safe_load(openapi.read_document(openapi.WEBHOOK))
        self.schemas: dict[str, Any] = self.spec["components"]["schemas"]
        registry: Registry[Any] = Registry().with_resource(self.URI, DRAFT4.create_resource(self.spec))
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


class RecordingGateway:
    """A stand-in for the gateway's `POST /callback` in the simulator's own tests.

    It checks the signature with the SDK's WebhookParser (400 when it fails, as the gateway
    does), keeps every accepted body, then answers `status`; `on_events` (if set) sees the
    parsed events of each accepted body, e.g. to reply through the emulator.
    """

    def __init__(self, channel_secret: str, status: int = 200) -> None:
        from linebot.v3 import WebhookParser
        from linebot.v3.exceptions import InvalidSignatureError

        self.status = status
        self.received: list[dict[str, Any]] = []
        self.rejected = 0
        self.on_events: Any = None
        parser = WebhookParser(channel_secret)
        self.app = FastAPI()

        @self.app.post("/callback")
        async def callback(request: Request) -> Response:
            raw = await request.body()
            try:
                events = parser.parse(raw.decode("utf-8"), request.headers.get("x-line-signature", ""))
            except InvalidSignatureError:
                self.rejected += 1
                return Response(status_code=400)
            self.received.append(
                {"headers": dict(request.headers), "body": json.loads(raw), "events": events}
            )
            if self.on_events is not None:
                await self.on_events(events)
            return Response(status_code=self.status)
