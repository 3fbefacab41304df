"""`POST /callback`, the LINE webhook.

200: every event of the body is recorded and accepted by the bus (or there was none:
LINE's URL check sends `{"events": []}`). 400: missing or wrong signature, or a body
that is not a webhook. 413: a body over 1 MB. 500: not accepted within the budget, so
LINE redelivers. No answer carries a stack trace.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cityhall.gateway.intake import Intake, NotAccepted
from cityhall.gateway.webhook import BadWebhook, InvalidSignature

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024


def _answer(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


def create_app(intake: Intake) -> FastAPI:
    app = FastAPI(title="gateway", docs_url=None, redoc_url=None, openapi_url=None)

    # A plain Starlette route: the hot path skips FastAPI's dependency solving, which it does not use.
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

    app.router.routes.append(Route("/callback", callback, methods=["POST"]))
    return app
