"""What kind of answer a caller gets: JSON for API clients, a Japanese page for browsers.

Kept below `auth` and `errors`, which both decide by it, so that neither imports the other.
"""

from __future__ import annotations

from fastapi import Request

MESSAGES: dict[int, str] = {
    400: "入力内容に誤りがあります。",
    401: "ログインしてください。",
    403: "このページを表示する権限がありません。",
    404: "お探しのページが見つかりません。",
    405: "この操作はできません。",
    409: "ほかの操作と重なりました。ページを再読み込みしてご確認ください。",
    413: "送信されたデータが大きすぎます。",
    422: "入力内容に誤りがあります。",
    429: "操作の回数が多すぎます。しばらくしてからもう一度お試しください。",
    500: "システムエラーが発生しました。しばらくしてからもう一度お試しください。",
    503: "ただいまご利用いただけません。しばらくしてからもう一度お試しください。",
}
"""The plain Japanese message for each status, when the handler gave none of its own."""


def wants_json(request: Request) -> bool:
    """Whether the caller is an API client (JSON) rather than a browser page (HTML)."""
    path = request.url.path
    if "/api/" in path or path.endswith("/api") or request.headers.get("authorization"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept
