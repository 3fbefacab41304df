"""Open311 GeoReport v2 at /open311/v2/ (https://wiki.open311.org/GeoReport_v2): the service list
and definitions, `POST requests` (form-encoded, with `api_key`), `GET requests` and
`GET requests/{id}`, each as `.json` or `.xml`; errors are the spec's list of `{code, description}`
with the HTTP status. A posted request goes to reports over `events.open311` and joins the same
queue as LINE's; what the client says of the person is sealed here and never returned."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from cityhall import town
from cityhall.events.db import Pool
from cityhall.events.envelope import Envelope
from cityhall.events.personal import PersonalData
from cityhall.events.store import EventStore
from cityhall.reports import open311
from cityhall.reports.categories import CATEGORIES, DEPARTMENTS
from cityhall.reports.domain import STATUSES
from cityhall.reports.events import Open311RequestSubmitted, receipt_number
from cityhall.reports.open311 import Open311Error
from cityhall.town import district

PREFIX = "/open311/v2"
SOURCE = "/services/reports-public"
SHOWN = ("accepted", "in_progress", "resolved")
"""Moderated reports: the API shows these in full; others only by their id, without the point."""
PERSONAL = ("email", "first_name", "last_name", "phone", "device_id", "account_id")
MAX_DESCRIPTION = 4000
DEFAULT_WINDOW = timedelta(days=90)
PAGE_SIZE, MAX_PAGE_SIZE = 50, 200
XML_TYPE = "application/xml; charset=utf-8"


def _format(fmt: str) -> str:
    if fmt not in ("json", "xml"):
        raise Open311Error(404, f"format {fmt!r} is not supported (json or xml)")
    return fmt


def error_response(fmt: str, error: Open311Error) -> Response:
    body = [{"code": error.code, "description": error.description}]
    if fmt == "xml":
        return Response(open311.xml("errors", "error", body), status_code=error.code, media_type=XML_TYPE)
    return JSONResponse(body, status_code=error.code)


def respond(fmt: str, root: str, item: str, items: list[dict[str, Any]], status: int = 200) -> Response:
    if fmt == "xml":
        return Response(open311.xml(root, item, items), status_code=status, media_type=XML_TYPE)
    return JSONResponse(items, status_code=status)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if moment else None


def request_item(row: dict[str, Any]) -> dict[str, Any]:
    category = CATEGORIES[row["category"]]
    shown = row["status"] in SHOWN
    found = district(row["district"])
    return {
        "service_request_id": row["number"],
        "status": open311.status(row["status"]),
        "status_notes": STATUSES[row["status"]],
        "service_name": category.name,
        "service_code": category.open311_code,
        "description": None,  # what a person wrote is never public
        "agency_responsible": DEPARTMENTS[row["department"]].name
        if row["department"] in DEPARTMENTS
        else None,
        "service_notice": None,
        "requested_datetime": _iso(row["filed_at"]),
        "updated_datetime": _iso(row["updated_at"]),
        "expected_datetime": None,
        "address": f"ポケット市{found.name}付近" if shown and found else None,
        "address_id": None,
        "zipcode": None,
        "lat": row["latitude"] if shown else None,
        "long": row["longitude"] if shown else None,
        "media_url": None,
    }


def _date(raw: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Open311Error(400, f"{name} must be a W3C date-time, e.g. 2026-12-01T00:00:00Z") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(raw: str, name: str, default: int, low: int, high: int) -> int:
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise Open311Error(400, f"{name} must be a whole number") from exc
    if not low <= value <= high:
        raise Open311Error(400, f"{name} must be between {low} and {high}")
    return value


async def find_requests(pool: Pool, query: dict[str, str], now: datetime) -> list[dict[str, Any]]:
    ids = open311.parse_request_ids(query.get("service_request_id", ""))
    if ids:  # the spec: the other parameters are ignored
        rows = await pool.fetch("SELECT * FROM public_reports WHERE number = ANY($1) ORDER BY filed_at", ids)
        return [request_item(dict(r)) for r in rows]
    codes = [c.strip() for c in query.get("service_code", "").split(",") if c.strip()]
    categories = []
    for code in codes:
        category = open311.by_code(code)
        if category is None:
            raise Open311Error(404, f"service_code {code} not found")
        categories.append(category.key)
    end = _date(query["end_date"], "end_date") if query.get("end_date") else now
    start = _date(query["start_date"], "start_date") if query.get("start_date") else end - DEFAULT_WINDOW
    if start > end:
        raise Open311Error(400, "start_date must be before end_date")
    wanted = query.get("status", "")
    statuses = {"open": ["accepted", "in_progress"], "closed": ["resolved"], "": list(SHOWN)}.get(wanted)
    if statuses is None:
        raise Open311Error(400, "status must be open or closed")
    page = _int(query.get("page", ""), "page", 1, 1, 100_000)
    size = _int(query.get("page_size", ""), "page_size", PAGE_SIZE, 1, MAX_PAGE_SIZE)
    rows = await pool.fetch(
        """SELECT * FROM public_reports
           WHERE status = ANY($1) AND filed_at BETWEEN $2 AND $3
             AND (cardinality($4::text[]) = 0 OR category = ANY($4))
           ORDER BY filed_at DESC, report_id LIMIT $5 OFFSET $6""",
        statuses, start, end, categories, size, (page - 1) * size,
    )  # fmt: skip
    return [request_item(dict(r)) for r in rows]


def _float(form: dict[str, str], name: str) -> float:
    try:
        value = float(form[name])
    except (KeyError, ValueError) as exc:
        raise Open311Error(
            400, "lat and long are required (address_string and address_id are not supported)"
        ) from exc
    if value != value or value in (float("inf"), float("-inf")):
        raise Open311Error(400, f"{name} is not a number")
    return value


async def submit(
    pool: Pool, store: EventStore, personal: PersonalData, form: dict[str, str]
) -> dict[str, Any]:
    """Check and record a posted request; the reply's one item. Raises `Open311Error`."""
    key = form.get("api_key", "")
    key_id = await pool.fetchval(
        "SELECT key_id FROM open311_keys WHERE key_hash = $1 AND NOT revoked", open311.key_hash(key)
    ) if key else None  # fmt: skip
    if key_id is None:
        raise Open311Error(403, "api_key is missing or not valid")
    code = form.get("service_code", "").strip()
    if not code:
        raise Open311Error(400, "service_code is required")
    category = open311.by_code(code)
    if category is None:
        raise Open311Error(404, f"service_code {code} not found")
    point = town.Point(_float(form, "lat"), _float(form, "long"))
    if not town.contains(point):
        raise Open311Error(400, "the location is outside the town of ポケット市")
    description = form.get("description", "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description is longer than {MAX_DESCRIPTION} characters")
    description = "\n".join([*([description] if description else []), *open311.answers(category, form)])
    report_id = uuid.uuid4()
    contact = {name: form[name].strip()[:200] for name in PERSONAL if form.get(name, "").strip()}
    submitted = Open311RequestSubmitted(
        report_id=report_id,
        category=category.key,
        latitude=point.latitude,
        longitude=point.longitude,
        description=description,
        key_id=key_id,
        at=datetime.now(UTC),
    )
    async with pool.acquire() as conn, conn.transaction():
        if contact:
            sealed = await personal.encrypt(f"open311-{report_id}", json.dumps(contact), conn=conn)
            await conn.execute(
                "INSERT INTO open311_contacts (report_id, key_id, sealed) VALUES ($1, $2, $3)",
                report_id,
                key_id,
                sealed,
            )
        stream = f"open311Request-{report_id}"
        await store.append(stream, None, [Envelope.wrap(submitted, source=SOURCE, subject=stream)], conn=conn)
    return {
        "service_request_id": receipt_number(report_id),
        "service_notice": f"{DEPARTMENTS[category.department].name}が確認します。"
        "危険が迫っている場合は110番・119番へ通報してください。",
        "account_id": None,
    }


def install(app: FastAPI, pool: Pool, store: EventStore) -> None:
    personal = PersonalData(pool)

    @app.get(PREFIX + "/services.{fmt}", include_in_schema=False)
    async def services(fmt: str) -> Response:
        try:
            return respond(_format(fmt), "services", "service", open311.services())
        except Open311Error as exc:
            return error_response("json", exc)

    @app.get(PREFIX + "/services/{code}.{fmt}", include_in_schema=False)
    async def definition(code: str, fmt: str) -> Response:
        try:
            category = open311.by_code(code)
            if category is None:
                raise Open311Error(404, f"service_code {code} not found")
            item = open311.definition(category)
            if _format(fmt) == "xml":
                return Response(open311.xml_definition(item), media_type=XML_TYPE)
            return JSONResponse(item)
        except Open311Error as exc:
            return error_response(fmt if fmt == "xml" else "json", exc)

    @app.post(PREFIX + "/requests.{fmt}", include_in_schema=False)
    async def post(request: Request, fmt: str) -> Response:
        out = fmt if fmt == "xml" else "json"
        try:
            _format(fmt)
            if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                raise Open311Error(
                    400, "the request must be form-encoded (application/x-www-form-urlencoded)"
                )
            form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
            item = await submit(pool, store, personal, form)
        except Open311Error as exc:
            return error_response(out, exc)
        return respond(out, "service_requests", "request", [item], status=201)

    @app.get(PREFIX + "/requests.{fmt}", include_in_schema=False)
    async def requests(request: Request, fmt: str) -> Response:
        out = fmt if fmt == "xml" else "json"
        try:
            _format(fmt)
            items = await find_requests(pool, dict(request.query_params), datetime.now(UTC))
        except Open311Error as exc:
            return error_response(out, exc)
        return respond(out, "service_requests", "request", items)

    @app.get(PREFIX + "/requests/{request_id}.{fmt}", include_in_schema=False)
    async def one(request_id: str, fmt: str) -> Response:
        out = fmt if fmt == "xml" else "json"
        try:
            _format(fmt)
            items = await find_requests(pool, {"service_request_id": request_id}, datetime.now(UTC))
            if not items:
                raise Open311Error(404, f"service_request_id {request_id} not found")
        except Open311Error as exc:
            return error_response(out, exc)
        return respond(out, "service_requests", "request", items)
