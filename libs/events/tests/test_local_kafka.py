"""The local Kafka broker the tests and benchmarks start."""

from __future__ import annotations

import uuid

import pytest

from cityhall.events.testing import kafka


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0xf8 encodes to "-" in URL-safe base64: the storage tool would read "-t -…" as two options.
    dashed, plain = uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(int=1)
    ids = iter([dashed, plain])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(ids))
    cluster_id = kafka._new_cluster_id()
    assert cluster_id == "AAAAAAAAAAAAAAAAAAAAAQ"
    assert next(ids, None) is None  # the dashed one was drawn and refused
