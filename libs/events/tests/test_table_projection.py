"""The kit's one-table projection, events declared once, and waiting for projections to catch up."""

from __future__ import annotations

import uuid

import pytest

from cityhall.events import decider
from cityhall.events.db import Pool
from cityhall.events.envelope import Envelope, Event, registry
from cityhall.events.projection import ProjectionRunner, TableProjection, caught_up
from cityhall.events.store import EventStore, Streams


class ShelfEvent(Event):
    DOMAIN = "shelftest"


class BookShelved(ShelfEvent):
    book_id: uuid.UUID
    title: str


class BookLent(ShelfEvent):
    book_id: uuid.UUID
    to: str


class BookLost(ShelfEvent):
    book_id: uuid.UUID


class IdCardRenewedV2(ShelfEvent):
    VERSION = 2


BOOKS = TableProjection(
    "shelf_books",
    "book_id uuid PRIMARY KEY, title text NOT NULL, lent_to text, shelved_at timestamptz NOT NULL",
    key="book_id",
    inserts={BookShelved: lambda e, r: {"title": e.title, "shelved_at": r.recorded_at}},
    updates={BookLent: lambda e, r: {"lent_to": e.to}},
    deletes=[BookLost],
    indexes=["(shelved_at DESC)"],
)


def test_a_domains_events_get_their_type_from_their_name_and_are_registered() -> None:
    assert BookShelved.TYPE == "cityhall.shelftest.book_shelved.v1"
    assert IdCardRenewedV2.TYPE == "cityhall.shelftest.id_card_renewed_v2.v2"
    assert registry.knows(BookLent.TYPE) and not registry.knows("cityhall.shelftest.shelf_event.v1")
    envelope = Envelope.wrap(BookLent(book_id=uuid.uuid4(), to="U1"), source="/t", subject="book-1")
    assert envelope.event() == BookLent(book_id=envelope.data["book_id"], to="U1")


def test_a_command_is_frozen_and_refuses_unknown_fields() -> None:
    class Lend(decider.Command):
        to: str

    with pytest.raises(ValueError):
        Lend(to="U1", by="someone")  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        Lend(to="U1").to = "U2"  # type: ignore[misc]


async def test_rows_are_inserted_once_updated_and_deleted_and_a_rebuild_agrees(
    store: EventStore, pool: Pool
) -> None:
    kept, lost = uuid.uuid4(), uuid.uuid4()

    async def append(stream: str, event: Event) -> None:
        await store.append(stream, None, [Envelope.wrap(event, source="/t", subject=stream)])

    await append(f"book-{kept}", BookShelved(book_id=kept, title="坊っちゃん"))
    await append(f"book-{kept}", BookShelved(book_id=kept, title="a replay changes nothing"))
    await append(f"book-{kept}", BookLent(book_id=kept, to="U1"))
    await append(f"book-{lost}", BookShelved(book_id=lost, title="こころ"))
    await append(f"book-{lost}", BookLost(book_id=lost))
    runner = ProjectionRunner(store, BOOKS)
    await runner.ensure()
    assert not await caught_up(pool, [BOOKS.name], timeout=0.05)
    await runner.catch_up()
    assert await caught_up(pool, [BOOKS.name], timeout=0.05)
    rows = [dict(r) for r in await pool.fetch("SELECT book_id, title, lent_to FROM shelf_books")]
    assert rows == [{"book_id": kept, "title": "坊っちゃん", "lent_to": "U1"}]
    await runner.rebuild()
    assert [dict(r) for r in await pool.fetch("SELECT book_id, title, lent_to FROM shelf_books")] == rows


def test_a_category_names_its_streams_reads_their_ids_and_numbers_them() -> None:
    books = Streams("book", "B")
    book = uuid.UUID("12345678-9abc-def0-1234-56789abcdef0")
    assert books.stream(book) == "book-12345678-9abc-def0-1234-56789abcdef0"
    assert books.id_of(books.stream(book)) == book and books.number(book) == "B-12345678"
    assert books.id_of(f"magazine-{book}") is None and books.id_of("book-not-an-id") is None
