"""The simulator's side of the LINE emulator: its inspection API and the content host.

The simulator plays the residents' phones, so it tells the emulator who exists, who
blocked the account, which reply tokens it handed out and which photos residents sent,
and reads back what the account delivered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx


class EmulatorError(Exception):
    """The emulator could not be reached or refused a request."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class EmulatorClient:
    def __init__(self, http: Callable[[], httpx.AsyncClient], base_url: str, access_token: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.headers = {"authorization": f"Bearer {access_token}"}

    async def _request(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        try:
            response = await self.http().request(
                method, f"{self.base_url}{path}", headers={**self.headers, **(headers or {})}, **kwargs
            )
        except httpx.HTTPError as exc:
            raise EmulatorError(f"LINE emulator at {self.base_url} unreachable: {exc!r}") from exc
        if response.status_code >= 400:
            raise EmulatorError(
                f"LINE emulator answered {response.status_code} to {method} {path}: {response.text[:300]}",
                response.status_code,
            )
        return response

    async def bot_user_id(self) -> str:
        try:
            return str((await self._request("GET", "/v2/bot/info")).json()["userId"])
        except (ValueError, KeyError, TypeError) as exc:
            raise EmulatorError(f"LINE emulator gave no bot user id: {exc!r}") from exc

    async def add_user(self, user_id: str, display_name: str) -> None:
        profile = {"userId": user_id, "displayName": display_name, "language": "ja"}
        await self._request("POST", "/_inspect/users", json=profile)

    async def set_blocked(self, user_id: str, blocked: bool) -> None:
        await self._request("POST", f"/_inspect/users/{user_id}/{'block' if blocked else 'unblock'}")

    async def add_reply_token(self, reply_token: str, user_id: str) -> None:
        await self._request(
            "POST", "/_inspect/reply-tokens", json={"replyToken": reply_token, "userId": user_id}
        )

    async def add_content(self, data: bytes, content_type: str) -> str:
        response = await self._request(
            "POST", "/_inspect/content", content=data, headers={"content-type": content_type}
        )
        return str(response.json()["messageId"])

    async def content(self, message_id: str) -> tuple[str, bytes]:
        response = await self._request("GET", f"/v2/bot/message/{message_id}/content")
        return response.headers.get("content-type", "application/octet-stream"), response.content

    async def messages(self, to: str) -> list[dict[str, Any]]:
        response = await self._request("GET", "/_inspect/messages", params={"to": to})
        return list(response.json()["messages"])

    async def rich_menu(self, user_id: str) -> dict[str, Any] | None:
        """The menu the user sees: the one linked to them, else the default; None if neither.

        Asked through the Messaging API itself (as the LINE app would know it), so any
        LINE-compatible emulator will do.
        """
        menu_id = await self._rich_menu_id(f"/v2/bot/user/{user_id}/richmenu")
        if menu_id is None:
            menu_id = await self._rich_menu_id("/v2/bot/user/all/richmenu")
        if menu_id is None:
            return None
        return dict((await self._request("GET", f"/v2/bot/richmenu/{menu_id}")).json())

    async def _rich_menu_id(self, path: str) -> str | None:
        try:
            return str((await self._request("GET", path)).json()["richMenuId"])
        except EmulatorError as exc:
            if exc.status == 404:
                return None
            raise

    async def rich_menu_image(self, rich_menu_id: str) -> tuple[str, bytes]:
        response = await self._request("GET", f"/v2/bot/richmenu/{rich_menu_id}/content")
        return response.headers.get("content-type", "image/png"), response.content

    async def stream(self, to: str) -> AsyncIterator[bytes]:
        """The emulator's live Server-Sent Events for one recipient, passed on as bytes."""
        request = self.http().build_request(
            "GET",
            f"{self.base_url}/_inspect/stream",
            params={"to": to},
            headers=self.headers,
            timeout=httpx.Timeout(10.0, read=None),
        )
        try:
            response = await self.http().send(request, stream=True)
        except httpx.HTTPError as exc:
            raise EmulatorError(f"LINE emulator stream unreachable: {exc!r}") from exc
        if response.status_code != 200:
            await response.aclose()
            raise EmulatorError(f"LINE emulator stream answered {response.status_code}", response.status_code)
        return _body(response)


async def _body(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    except httpx.HTTPError:
        return  # the emulator went away: end the stream; the page's EventSource reconnects
    finally:
        await response.aclose()
