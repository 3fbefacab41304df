"""The postback codec: one format, one set of limits, malformed data refused."""

from __future__ import annotations

import uuid

import pytest
import yaml

from cityhall.line import openapi, postback


def test_encoded_data_decodes_to_the_same_domain_action_and_params() -> None:
    data = postback.encode("certificates", "copies", r="ab12", n=2)
    assert data == "domain=certificates&action=copies&r=ab12&n=2"
    decoded = postback.decode(data)
    assert decoded == postback.Postback("certificates", "copies", {"r": "ab12", "n": "2"})
    assert decoded is not None and decoded.get("n") == "2" and decoded.get("missing") == ""


def test_values_are_escaped_and_come_back_unchanged() -> None:
    decoded = postback.decode(postback.encode("guide", "ask", q="a&b=c 住民票"))
    assert decoded is not None and decoded.params == {"q": "a&b=c 住民票"}


def test_data_without_domain_or_action_decodes_with_empty_names() -> None:
    assert postback.decode("action=menu") == postback.Postback("", "menu")
    assert postback.decode("domain=reports&x=") == postback.Postback("reports", "", {"x": ""})


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "just some text",
        "domain=guide&domain=notify",
        "domain=certificates&action=a&action=b",
        "domain=x&" + "&".join(f"k{i}=v" for i in range(postback.MAX_FIELDS)),
        "domain=x&action=y&pad=" + "z" * postback.MAX_DATA,
    ],
)
def test_malformed_or_oversized_data_decodes_to_nothing(data: str | None) -> None:
    assert postback.decode(data) is None


def test_the_limit_is_lines_own() -> None:
    spec = yaml.safe_load(openapi.read_document(openapi.MESSAGING_API))
    schema = spec["components"]["schemas"]["PostbackAction"]["allOf"][1]
    assert schema["properties"]["data"]["maxLength"] == postback.MAX_DATA


def test_encoding_refuses_what_line_or_the_decoder_would_refuse() -> None:
    with pytest.raises(postback.PostbackTooLong):
        postback.encode("certificates", "x", note="z" * postback.MAX_DATA)
    with pytest.raises(postback.PostbackTooLong):
        postback.encode("certificates", "x", **{f"k{i}": i for i in range(postback.MAX_FIELDS)})
    with pytest.raises(ValueError, match="own keys"):
        postback.encode("certificates", "x", domain="guide")
    longest = postback.encode("c", "a", v="z" * (postback.MAX_DATA - len("domain=c&action=a&v=")))
    assert len(longest) == postback.MAX_DATA and postback.decode(longest) is not None


def test_a_uuid_field_is_read_only_when_it_is_one_as_encoded() -> None:
    request = uuid.uuid4()
    tapped = postback.decode(postback.encode("voice", "send", o=request.hex))
    assert tapped is not None and tapped.uuid("o") == request
    for forged in ("", "x" * 32, str(request), "{" + request.hex + "}", request.hex[:31]):
        tapped = postback.decode(f"domain=voice&action=send&o={forged}")
        assert tapped is not None and tapped.uuid("o") is None, forged
