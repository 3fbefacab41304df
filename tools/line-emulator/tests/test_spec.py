"""The spec (cityhall.line.openapi's messaging-api.yml): parsed once, and turned into validation
that follows its discriminators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cityhall.line_emulator.spec import Spec, load_spec

SPEC = load_spec()
MESSAGE_TYPES = sorted(SPEC.document["components"]["schemas"]["Message"]["discriminator"]["mapping"])


def test_parsed_once() -> None:
    assert load_spec() is load_spec()


def test_every_route_is_an_operation_of_the_spec(app: FastAPI, spec: Spec) -> None:
    # The app's own OpenAPI document lists every route it serves.
    served = {path: ops for path, ops in app.openapi()["paths"].items() if path.startswith("/v2/")}
    assert sum(len(ops) for ops in served.values()) >= 30
    for path, operations in served.items():
        for method in operations:
            assert method in spec.document["paths"].get(path, {}), f"{method.upper()} {path}"


@pytest.mark.parametrize("message_type", MESSAGE_TYPES)
def test_a_minimal_message_of_each_type_from_the_spec_is_valid(
    message_type: str, spec: Spec, sample: Callable[[str], Any]
) -> None:
    message = _message(spec, sample, message_type)
    assert message["type"] == message_type
    assert spec.validate("PushMessageRequest", {"to": "U1", "messages": [message]}) == []


@pytest.mark.parametrize("message_type", MESSAGE_TYPES)
async def test_each_message_type_is_delivered_and_each_required_property_is_enforced(
    message_type: str, spec: Spec, sample: Callable[[str], Any], client: httpx.AsyncClient
) -> None:
    message = _message(spec, sample, message_type)
    ok = await client.post("/v2/bot/message/push", json={"to": "Uspec", "messages": [message]})
    assert ok.status_code == 200, ok.text
    for prop in message:
        broken = {k: v for k, v in message.items() if k != prop}
        response = await client.post("/v2/bot/message/push", json={"to": "Uspec", "messages": [broken]})
        assert response.status_code == 400
        assert {"message": "Must be specified", "property": f"messages[0].{prop}"} in response.json()[
            "details"
        ]


def _message(spec: Spec, sample: Callable[[str], Any], message_type: str) -> dict[str, Any]:
    ref = spec.document["components"]["schemas"]["Message"]["discriminator"]["mapping"][message_type]
    message: dict[str, Any] = sample(ref.rsplit("/", 1)[1])
    return message


@pytest.mark.parametrize(
    "schema", ["ReplyMessageRequest", "PushMessageRequest", "MulticastRequest", "BroadcastRequest"]
)
def test_each_required_property_of_a_request_is_reported(
    schema: str, spec: Spec, sample: Callable[[str], Any]
) -> None:
    body = sample(schema)
    assert spec.validate(schema, body) == []
    for prop in spec.document["components"]["schemas"][schema]["required"]:
        errors = spec.validate(schema, {k: v for k, v in body.items() if k != prop})
        assert [e.as_json() for e in errors] == [{"message": "Must be specified", "property": prop}]


def test_discriminators_dispatch_on_type_at_any_depth(spec: Spec) -> None:
    def errors(message: dict[str, Any]) -> list[dict[str, str]]:
        return [e.as_json() for e in spec.validate("PushMessageRequest", {"to": "U1", "messages": [message]})]

    unknown = errors({"type": "hologram"})
    assert unknown[0]["property"] == "messages[0].type"
    assert unknown[0]["message"].startswith("Must be one of the following values: [text, textV2")

    # Message -> TemplateMessage -> Template (buttons) -> Action (postback): data must be a string.
    template = {
        "type": "template",
        "altText": "申請",
        "template": {"type": "buttons", "text": "どの証明書?", "actions": [{"type": "postback", "data": 1}]},
    }
    assert errors(template) == [
        {"message": "Must be of type string", "property": "messages[0].template.actions[0].data"}
    ]
    # An action without its discriminating property is refused (OpenAPI makes it required).
    quick = {
        "type": "text",
        "text": "hi",
        "quickReply": {"items": [{"type": "action", "action": {"label": "a"}}]},
    }
    assert errors(quick) == [
        {"message": "Must be specified", "property": "messages[0].quickReply.items[0].action.type"}
    ]
    # Flex: Message -> FlexContainer (bubble) -> FlexComponent (box) -> layout enum.
    flex = {
        "type": "flex",
        "altText": "x",
        "contents": {"type": "bubble", "body": {"type": "box", "layout": "diagonal", "contents": []}},
    }
    assert errors(flex)[0]["property"] == "messages[0].contents.body.layout"


def test_limits_the_spec_itself_states(spec: Spec) -> None:
    six = {"to": "U1", "messages": [{"type": "text", "text": str(i)} for i in range(6)]}
    assert [e.as_json() for e in spec.validate("PushMessageRequest", six)] == [
        {"message": "Size must be at most 5", "property": "messages"}
    ]
    crowd = {"to": [f"U{i:032x}" for i in range(501)], "messages": [{"type": "text", "text": "x"}]}
    assert [e.as_json() for e in spec.validate("MulticastRequest", crowd)] == [
        {"message": "Size must be at most 500", "property": "to"}
    ]
