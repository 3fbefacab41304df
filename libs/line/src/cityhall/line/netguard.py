"""A structural guard for tests: no network call while the calling task holds a database
transaction open (a slow remote end would hold the transaction, its locks and its connection).

Every asyncpg transaction entered counts in a context variable of the task that entered it;
the HTTP clients the services use (httpx, and aiohttp under LINE's SDK) check it. A call made
inside a transaction is recorded (and raised in place), and `no_network_in_transactions`
fails the test at its end, so a violation that a handler's retries would hide still shows.
Only tests import this module (httpx and pytest are dev dependencies of every test suite).
"""

from __future__ import annotations

import contextvars
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx
import pytest
from asyncpg.transaction import Transaction

_open_transactions: contextvars.ContextVar[int] = contextvars.ContextVar("open_transactions", default=0)


class NetworkInTransaction(AssertionError):
    """An HTTP call was awaited while a database transaction was open."""


@contextmanager
def no_network_in_transactions() -> Iterator[list[str]]:
    """Within this block, an HTTP call inside a transaction raises and is listed; the block
    fails when it ends if any was."""
    violations: list[str] = []
    enter, leave = Transaction.__aenter__, Transaction.__aexit__
    send, aiohttp_request = httpx.AsyncClient.send, aiohttp.ClientSession._request

    async def entered(self: Transaction) -> None:
        await enter(self)
        _open_transactions.set(_open_transactions.get() + 1)

    async def left(self: Transaction, *exc: object) -> Any:
        _open_transactions.set(max(0, _open_transactions.get() - 1))
        return await leave(self, *exc)

    def check(what: str) -> None:
        if _open_transactions.get() > 0:
            where = "".join(traceback.format_stack(limit=12))
            violations.append(f"{what} inside a database transaction:\n{where}")
            raise NetworkInTransaction(f"{what} inside a database transaction")

    async def checked_send(self: httpx.AsyncClient, request: httpx.Request, *args: Any, **kwargs: Any) -> Any:
        check(f"HTTP {request.method} {request.url}")
        return await send(self, request, *args, **kwargs)

    async def checked_request(
        self: aiohttp.ClientSession, method: str, url: Any, *args: Any, **kwargs: Any
    ) -> Any:
        check(f"HTTP {method} {url}")
        return await aiohttp_request(self, method, url, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Transaction, "__aenter__", entered)
        patch.setattr(Transaction, "__aexit__", left)
        patch.setattr(httpx.AsyncClient, "send", checked_send)
        patch.setattr(aiohttp.ClientSession, "_request", checked_request)
        yield violations
    assert not violations, "\n".join(violations)


@pytest.fixture(autouse=True)
def network_outside_transactions() -> Iterator[None]:
    """Imported into a test suite's conftest: each of its tests fails on an HTTP call awaited
    inside a database transaction."""
    with no_network_in_transactions():
        yield
