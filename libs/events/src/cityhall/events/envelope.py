"""Event schemas, the type registry with upcasters, and the CloudEvents envelope.

Every message that crosses a service boundary or lands in an event store is an
`Envelope`: CloudEvents 1.0 attributes plus a JSON payload. On Kafka it travels
in binary mode (attributes as `ce_*` headers), converted by the cloudevents SDK.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import orjson
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel, ConfigDict

from cityhall.events.telemetry import current_traceparent


class Event(BaseModel):
    """Base of every event, command and intent schema.

    A service declares its events once: a base class naming the domain, then one class per
    event, which gets `TYPE = "cityhall.<domain>.<snake_case name>.v<VERSION>"` and is
    registered as it is defined (no decorator, no list kept by hand):

        class VoiceEvent(Event):
            DOMAIN = "voice"

        class OpinionSubmitted(VoiceEvent):      # cityhall.voice.opinion_submitted.v1
            opinion_id: uuid.UUID

    A class may still set `TYPE` itself and register with `@registry.register`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    TYPE: ClassVar[str] = ""
    DOMAIN: ClassVar[str] = ""
    """Set by a domain's base class: its subclasses are that domain's events."""
    VERSION: ClassVar[int] = 1

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if not cls.DOMAIN or "DOMAIN" in cls.__dict__:
            return  # not declared through a domain, or the domain's base itself
        if "TYPE" not in cls.__dict__:
            cls.TYPE = f"cityhall.{cls.DOMAIN}.{_snake(cls.__name__)}.v{cls.VERSION}"
        registry.register(cls)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


E = TypeVar("E", bound=type[Event])
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class UnknownEventType(KeyError):
    """No schema and no upcaster is registered for a `ce_type`."""


class EventRegistry:
    """Maps `ce_type` to its pydantic model; old versions reach the newest through upcasters."""

    def __init__(self) -> None:
        self._models: dict[str, type[Event]] = {}
        self._upcasters: dict[str, tuple[str, Upcaster]] = {}

    def register(self, model: E) -> E:
        if not model.TYPE.startswith("cityhall.") or model.TYPE.count(".") != 3:
            raise ValueError(f"{model.__name__}.TYPE must look like cityhall.<domain>.<name>.v<N>")
        known = self._models.get(model.TYPE)
        if known is not None and known.__qualname__ != model.__qualname__:
            raise ValueError(f"{model.TYPE} is already registered to {known.__name__}")
        self._models[model.TYPE] = model
        return model

    def upcaster(self, old_type: str, new_type: str) -> Callable[[Upcaster], Upcaster]:
        """Declare how a payload of `old_type` becomes one of `new_type`."""

        def decorate(fn: Upcaster) -> Upcaster:
            self._upcasters[old_type] = (new_type, fn)
            return fn

        return decorate

    def load(self, type_: str, data: dict[str, Any]) -> Event:
        """Build the newest model for a stored or received payload."""
        seen = {type_}
        while type_ in self._upcasters:
            type_, fn = self._upcasters[type_][0], self._upcasters[type_][1]
            data = fn(data)
            if type_ in seen:
                raise ValueError(f"upcaster cycle at {type_}")
            seen.add(type_)
        model = self._models.get(type_)
        if model is None:
            raise UnknownEventType(type_)
        return model.model_validate(data)

    def knows(self, type_: str) -> bool:
        return type_ in self._models or type_ in self._upcasters


registry = EventRegistry()


@dataclass(frozen=True)
class Envelope:
    """One CloudEvent: attributes, the stream it belongs to (`subject`) and its JSON data."""

    type: str
    source: str
    subject: str
    data: dict[str, Any]
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None
    topic: str | None = None
    """Where the outbox relay publishes it; None: `events.<domain>`."""
    key: str | None = None
    """Its partition key on that topic; None: the stream id."""

    @classmethod
    def wrap(
        cls,
        event: Event,
        *,
        source: str,
        subject: str,
        id: uuid.UUID | None = None,
        caused_by: Envelope | None = None,
        correlation_id: str | None = None,
        traceparent: str | None = None,
        topic: str | None = None,
        key: str | None = None,
    ) -> Envelope:
        """Envelope a new event; `caused_by` carries correlation and trace from the message that led to it.

        The trace parent is the span running now (a request or a consumer's process span),
        else the cause's.
        """
        traceparent = traceparent or current_traceparent()
        if caused_by is not None:
            correlation_id = correlation_id or caused_by.correlation_id or str(caused_by.id)
            traceparent = traceparent or caused_by.traceparent
        return cls(
            id=id or uuid.uuid4(),
            type=event.TYPE,
            source=source,
            subject=subject,
            data=event.model_dump(mode="json"),
            correlation_id=correlation_id,
            causation_id=str(caused_by.id) if caused_by is not None else None,
            traceparent=traceparent,
            topic=topic,
            key=key,
        )

    def event(self, reg: EventRegistry | None = None) -> Event:
        return (reg or registry).load(self.type, self.data)

    def with_traceparent(self, traceparent: str | None) -> Envelope:
        return replace(self, traceparent=traceparent)

    def metadata(self) -> dict[str, Any]:
        """What an event store keeps beside the payload."""
        return {
            "source": self.source,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "traceparent": self.traceparent,
            "topic": self.topic,
            "key": self.key,
        }

    # --- CloudEvents binary mode -------------------------------------------------------------------

    def to_cloudevent(self) -> CloudEvent:
        attributes: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "time": self.time,
            "datacontenttype": "application/json",
        }
        for name, value in self._extensions().items():
            if value is not None:
                attributes[name] = value
        # Serialised here with orjson: the SDK passes bytes through, and its own encoder (the
        # standard library's) costs the relay several times more per event.
        return CloudEvent(attributes=attributes, data=orjson.dumps(self.data))

    def _extensions(self) -> dict[str, str | None]:
        # CloudEvents extension names are lowercase alphanumerics only.
        return {
            "correlationid": self.correlation_id,
            "causationid": self.causation_id,
            "traceparent": self.traceparent,
        }

    def to_kafka(self, key: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """(key, value, headers) for a Kafka record in binary content mode."""
        message = ce_kafka.to_binary_event(self.to_cloudevent(), key_mapper=lambda _e: key)
        return key.encode(), message.value, list(message.headers.items())

    @classmethod
    def from_kafka(cls, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> Envelope:
        """Parse a binary-mode record; raises `ValueError` for anything that is not a valid CloudEvent."""
        try:
            message = ce_kafka.KafkaMessage(headers=dict(headers), key=key, value=value)
            ce = ce_kafka.from_binary_event(message)
            attrs = ce.get_attributes()
            data = ce.get_data()
            if isinstance(data, bytes | str):
                data = orjson.loads(data)
            if not isinstance(data, dict):
                raise ValueError("CloudEvent data must be a JSON object")
            return cls(
                id=uuid.UUID(str(attrs["id"])),
                type=str(attrs["type"]),
                source=str(attrs["source"]),
                subject=str(attrs.get("subject") or ""),
                data=data,
                time=attrs.get("time") or datetime.now(UTC),
                correlation_id=attrs.get("correlationid"),
                causation_id=attrs.get("causationid"),
                traceparent=attrs.get("traceparent"),
            )
        except ValueError:
            raise
        except Exception as exc:  # the SDK raises several types for malformed input
            raise ValueError(f"not a CloudEvent in Kafka binary mode: {exc}") from exc
