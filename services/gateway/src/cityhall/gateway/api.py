"""`POST /callback`, the LINE webhook.

200: every event of the body is recorded and accepted by the bus (or there was none:
LINE's URL check sends `{"events": []}`). 400: missing or wrong signature, or a body
that is not a webhook. 413: a body over 1 MB. 500: not accepted within the budget, so
LINE redelivers. No answer carries a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from cityhall.gateway.intake import Intake, NotAccepted
from cityhall.gateway.webhook import BadWebhook, InvalidSignature

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024

WEBHOOKS = Counter(
    "cityhall_gateway_webhooks",
    "Requests to /callback, by the answer: HTTP status code and outcome.",
    ["code", "outcome"],
)


def _answer(
    status: int, outcome: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    WEBHOOKS.labels(str(status), outcome).inc()
    return JSONResponse(body, status_code=status, headers=headers)


def _refuse(status: int, outcome: str, message: str) -> JSONResponse:
    return _answer(status, outcome, {"message": message})


def create_callback(intake: Intake) -> ASGIApp:
    """The endpoint, a plain ASGI app: the runtime serves it ahead of FastAPI (`Running.endpoints`)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            response = _answer(405, "wrong_method", {"message": "use POST"}, {"Allow": "POST"})
        else:
            response = await callback(Request(scope, receive))
        await response(scope, receive, send)

    async def callback(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                return _refuse(400, "bad_request", "invalid Content-Length")
            if int(declared) > MAX_BODY:
                return _refuse(413, "too_large", f"the body is larger than {MAX_BODY} bytes")
        body = bytearray()
        async for chunk in request.stream():  # also bounds a body sent without Content-Length
            body += chunk
            if len(body) > MAX_BODY:
                return _refuse(413, "too_large", f"the body is larger than {MAX_BODY} bytes")
        try:
            count = await intake.receive(bytes(body), request.headers.get("x-line-signature"))
        except InvalidSignature as exc:
            log.warning("webhook refused: %s", exc)
            return _refuse(400, "invalid_signature", "invalid signature")
        except BadWebhook as exc:
            log.warning("webhook refused: %s", exc)
            return _refuse(400, "bad_request", str(exc))
        except NotAccepted as exc:
            log.error("webhook not acknowledged, LINE will redeliver: %s", exc)
            return _refuse(500, "not_accepted", "not accepted yet; please redeliver")
        except Exception:
            log.exception("webhook failed")
            return _refuse(500, "error", "internal error; please redeliver")
        return _answer(200, "accepted", {"accepted": count})

    return app
