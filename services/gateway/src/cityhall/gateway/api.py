"""`POST /callback`, the LINE webhook.

200: every event of the body is recorded and accepted by the bus (or there was none:
LINE's URL check sends `{"events": []}`). 400: missing or wrong signature, or a body
that is not a webhook. 413: a body over 1 MB. 500: not accepted within the budget, so
LINE redelivers. No answer carries a stack trace.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from cityhall.gateway.intake import Intake, NotAccepted
from cityhall.gateway.webhook import BadWebhook, InvalidSignature

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024


def _answer(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


def create_callback(intake: Intake) -> ASGIApp:
    """The endpoint, a plain ASGI app: the runtime serves it ahead of FastAPI (`Running.endpoints`)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            response = JSONResponse({"message": "use POST"}, status_code=405, headers={"Allow": "POST"})
        else:
            response = await callback(Request(scope, receive))
        await response(scope, receive, send)

    async def callback(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                return _answer(400, "invalid Content-Length")
            if int(declared) > MAX_BODY:
                return _answer(413, f"the body is larger than {MAX_BODY} bytes")
        body = bytearray()
        async for chunk in request.stream():  # also bounds a body sent without Content-Length
            body += chunk
            if len(body) > MAX_BODY:
                return _answer(413, f"the body is larger than {MAX_BODY} bytes")
        try:
            count = await intake.receive(bytes(body), request.headers.get("x-line-signature"))
        except InvalidSignature as exc:
            log.warning("webhook refused: %s", exc)
            return _answer(400, "invalid signature")
        except BadWebhook as exc:
            log.warning("webhook refused: %s", exc)
            return _answer(400, str(exc))
        except NotAccepted as exc:
            log.error("webhook not acknowledged, LINE will redeliver: %s", exc)
            return _answer(500, "not accepted yet; please redeliver")
        except Exception:
            log.exception("webhook failed")
            return _answer(500, "internal error; please redeliver")
        return JSONResponse({"accepted": count})

    return app
