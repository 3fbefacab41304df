"""Baselines that only answer 200 to `POST /callback`, served by uvicorn as the services are.

    python -m bench.bare_app PORT [fastapi|starlette|asgi]

`fastapi` is the webhook benchmark's baseline; `bench_asgi_floor` compares the three.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

fastapi_app = FastAPI()


@fastapi_app.post("/callback")
async def callback() -> dict[str, str]:
    return {}


@fastapi_app.get("/readyz")
async def ready() -> dict[str, str]:
    return {}


async def _empty(request: Request) -> Response:
    await request.body()
    return Response(b"{}", media_type="application/json")


starlette_app = Starlette(routes=[Route("/callback", _empty, methods=["POST"]), Route("/readyz", _empty)])


async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    """What the gateway's `/callback` is now: a plain ASGI callable (here without any work)."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


APPS: dict[str, ASGIApp] = {"fastapi": fastapi_app, "starlette": starlette_app, "asgi": asgi_app}

if __name__ == "__main__":
    kind = sys.argv[2] if len(sys.argv) > 2 else "fastapi"
    uvicorn.run(APPS[kind], host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
