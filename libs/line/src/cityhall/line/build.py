"""Message builders every dialog shares: buttons, quick replies, Flex rows. Pure, SDK models out.

The words are each service's own (its `messages.py`); this module only gives them their shape,
so that a button, a quick reply or a label/value row looks and behaves the same in every domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from linebot.v3.messaging import (
    Action,
    FlexBox,
    FlexText,
    Message,
    PostbackAction,
    QuickReply,
    QuickReplyItem,
    TextMessage,
)

LABEL_MAX = 20
"""Characters LINE shows of an action's label (its documentation's limit for quick replies)."""
MUTED = "#5b6775"
"""The colour of a row's label and of secondary text."""


def postback(label: str, data: str, display: str | None = None) -> PostbackAction:
    """A button whose tap sends `data` and shows `display` (the label, unless given) as said."""
    return PostbackAction(label=label[:LABEL_MAX], data=data, display_text=display or label)


def quick_reply(*actions: Action) -> QuickReply:
    return QuickReply(items=[QuickReplyItem(action=a) for a in actions])


def text(body: str, *actions: Action) -> TextMessage:
    """A text message, with `actions` as its quick replies."""
    return TextMessage(text=body, quick_reply=quick_reply(*actions) if actions else None)


def row(label: str, value: str, *, margin: str | None = None, bold: bool = False) -> FlexBox:
    """A Flex label/value row (a missing value shows as －)."""
    return FlexBox(
        layout="horizontal",
        margin=margin,
        contents=[
            FlexText(text=label, size="sm", color=MUTED, flex=3, wrap=True),
            FlexText(
                text=value or "－",
                size="sm",
                flex=5,
                wrap=True,
                align="end",
                weight="bold" if bold else None,
            ),
        ],
    )


@dataclass(frozen=True)
class Button:
    label: str
    data: str
    display_text: str


def postback_buttons(messages: Sequence[Message]) -> list[Button]:
    """Every postback button and quick reply in `messages`, in the order they appear."""
    found: list[Button] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            action = node.get("action")
            if isinstance(action, dict) and action.get("type") == "postback":
                found.append(
                    Button(action.get("label", ""), action.get("data", ""), action.get("displayText", ""))
                )
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk([m.to_dict() for m in messages])
    return found
