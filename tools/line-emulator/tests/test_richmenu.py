"""Rich menus in-process: LINE's rules on the object and the image, and what /_inspect shows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cityhall.line_emulator.rules import image_dimensions
from cityhall.line_emulator.spec import Spec

MenuBody = Callable[..., dict[str, Any]]


async def create(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    response = await client.post("/v2/bot/richmenu", json=body)
    assert response.status_code == 200, response.text
    menu_id: str = response.json()["richMenuId"]
    return menu_id


async def test_created_menu_reads_back_as_the_spec_says(
    client: httpx.AsyncClient, spec: Spec, menu_body: MenuBody
) -> None:
    menu_id = await create(client, menu_body())
    menu = (await client.get(f"/v2/bot/richmenu/{menu_id}")).json()
    assert spec.validate("RichMenuResponse", menu) == []
    assert menu == {"richMenuId": menu_id, **menu_body()}
    listed = (await client.get("/v2/bot/richmenu/list")).json()
    assert spec.validate("RichMenuListResponse", listed) == []
    assert (await client.get("/v2/bot/richmenu/richmenu-unknown")).status_code == 404


@pytest.mark.parametrize(
    ("overrides", "drop", "detail"),
    [
        (
            {"chatBarText": "x" * 15},
            None,
            {"message": "Length must be at most 14", "property": "chatBarText"},
        ),
        ({}, "size", {"message": "Must be specified", "property": "size"}),
        ({}, "areas", {"message": "Must be specified", "property": "areas"}),
        (
            {"size": {"width": 700, "height": 500}},
            None,
            {"message": "Width must be between 800 and 2500", "property": "size"},
        ),
        (
            {
                "areas": [
                    {"bounds": {"x": 0, "y": 0, "width": 1, "height": 1}, "action": {"type": "teleport"}}
                ]
            },
            None,
            {"property": "areas[0].action.type"},
        ),
    ],
)
async def test_invalid_menus_are_refused(
    client: httpx.AsyncClient,
    menu_body: MenuBody,
    overrides: dict[str, Any],
    drop: str | None,
    detail: dict[str, str],
) -> None:
    body = {k: v for k, v in menu_body(**overrides).items() if k != drop}
    for path in ("/v2/bot/richmenu", "/v2/bot/richmenu/validate"):
        response = await client.post(path, json=body)
        assert response.status_code == 400
        assert any(detail.items() <= d.items() for d in response.json()["details"]), response.json()
    assert (await client.post("/v2/bot/richmenu/validate", json=menu_body())).status_code == 200


async def test_image_rules(
    client: httpx.AsyncClient,
    menu_body: MenuBody,
    make_png: Callable[[int, int], bytes],
    make_jpeg_header: Callable[[int, int], bytes],
) -> None:
    menu_id = await create(client, menu_body())
    url = f"/v2/bot/richmenu/{menu_id}/content"

    gif = await client.post(url, content=b"GIF89a", headers={"content-type": "image/gif"})
    assert gif.status_code == 415
    small = await client.post(url, content=make_png(400, 200), headers={"content-type": "image/png"})
    assert (small.status_code, small.json()["message"]) == (400, "Width must be between 800 and 2500")
    lying = await client.post(url, content=make_png(2500, 843), headers={"content-type": "image/jpeg"})
    assert lying.status_code == 400
    assert (await client.get(url)).status_code == 404  # nothing stored by the failures

    jpeg = make_jpeg_header(2500, 843)
    assert (await client.post(url, content=jpeg, headers={"content-type": "image/jpeg"})).status_code == 200
    again = await client.post(url, content=jpeg, headers={"content-type": "image/jpeg"})
    assert again.status_code == 400  # LINE allows one upload per menu
    got = await client.get(url)
    assert (got.content, got.headers["content-type"]) == (jpeg, "image/jpeg")


def test_image_dimensions_are_read_from_the_headers(
    make_png: Callable[[int, int], bytes], make_jpeg_header: Callable[[int, int], bytes]
) -> None:
    assert image_dimensions("image/png", make_png(1200, 405)) == (1200, 405)
    assert image_dimensions("image/jpeg", make_jpeg_header(800, 540)) == (800, 540)
    assert image_dimensions("image/png", b"not a png") is None


async def test_linked_beats_default_and_inspect_shows_it(
    client: httpx.AsyncClient, menu_body: MenuBody, menu_png: bytes
) -> None:
    default_id = await create(client, menu_body(name="everyone"))
    personal_id = await create(client, menu_body(name="staff"))
    for menu_id in (default_id, personal_id):
        await client.post(
            f"/v2/bot/richmenu/{menu_id}/content", content=menu_png, headers={"content-type": "image/png"}
        )

    assert (await client.get("/_inspect/richmenu", params={"userId": "Ualice"})).status_code == 404
    assert (await client.get("/v2/bot/user/all/richmenu")).status_code == 404
    assert (await client.post(f"/v2/bot/user/all/richmenu/{default_id}")).status_code == 200
    assert (await client.get("/v2/bot/user/all/richmenu")).json() == {"richMenuId": default_id}

    seen = (await client.get("/_inspect/richmenu", params={"userId": "Ualice"})).json()
    assert (seen["source"], seen["richMenu"]["name"]) == ("default", "everyone")
    assert seen["imageUrl"] == f"http://emulator/_inspect/richmenu/{default_id}/image"
    image = await client.get(seen["imageUrl"])
    assert (image.content, image.headers["content-type"]) == (menu_png, "image/png")

    assert (await client.post(f"/v2/bot/user/Ualice/richmenu/{personal_id}")).status_code == 200
    seen = (await client.get("/_inspect/richmenu", params={"userId": "Ualice"})).json()
    assert (seen["source"], seen["richMenu"]["name"]) == ("linked", "staff")

    bulk = await client.post(
        "/v2/bot/richmenu/bulk/link", json={"richMenuId": personal_id, "userIds": ["Ub", "Uc"]}
    )
    assert bulk.status_code == 202
    assert (await client.get("/v2/bot/user/Uc/richmenu")).json() == {"richMenuId": personal_id}
    await client.post("/v2/bot/richmenu/bulk/unlink", json={"userIds": ["Uc"]})
    assert (await client.get("/v2/bot/user/Uc/richmenu")).status_code == 404

    # Deleting a menu unlinks it everywhere.
    assert (await client.delete(f"/v2/bot/richmenu/{personal_id}")).status_code == 200
    seen = (await client.get("/_inspect/richmenu", params={"userId": "Ualice"})).json()
    assert seen["source"] == "default"
    await client.delete("/v2/bot/user/all/richmenu")
    assert (await client.get("/_inspect/richmenu", params={"userId": "Ualice"})).status_code == 404


async def test_batch_replaces_or_unlinks_the_menus_linked_to_users(
    client: httpx.AsyncClient, spec: Spec, menu_body: MenuBody, menu_png: bytes
) -> None:
    first, second, bare = [await create(client, menu_body(name=n)) for n in ("first", "second", "bare")]
    for menu_id in (first, second):
        await client.post(
            f"/v2/bot/richmenu/{menu_id}/content", content=menu_png, headers={"content-type": "image/png"}
        )
    await client.post("/v2/bot/richmenu/bulk/link", json={"richMenuId": first, "userIds": ["Ua", "Ub"]})
    await client.post(f"/v2/bot/user/Uc/richmenu/{second}")

    async def linked(user_id: str) -> str | None:
        found = await client.get(f"/v2/bot/user/{user_id}/richmenu")
        return str(found.json()["richMenuId"]) if found.status_code == 200 else None

    for refused, where in (
        ({"operations": []}, "operations"),
        ({"operations": [{"type": "link", "from": first}]}, "operations[0].to"),
        ({"operations": [{"type": "teleport"}]}, "operations[0].type"),
        ({"operations": [{"type": "unlinkAll"}], "resumeRequestKey": "no spaces"}, "resumeRequestKey"),
    ):
        for path in ("/v2/bot/richmenu/batch", "/v2/bot/richmenu/validate/batch"):
            response = await client.post(path, json=refused)
            assert response.status_code == 400, response.text
            assert any(d["property"] == where for d in response.json()["details"]), response.json()
    unknown = {"operations": [{"type": "link", "from": first, "to": "richmenu-unknown"}]}
    assert (await client.post("/v2/bot/richmenu/validate/batch", json=unknown)).status_code == 400
    no_image = {"operations": [{"type": "link", "from": first, "to": bare}]}
    assert (await client.post("/v2/bot/richmenu/batch", json=no_image)).status_code == 400
    assert [await linked(u) for u in ("Ua", "Ub", "Uc")] == [first, first, second]  # nothing changed

    replace = {"operations": [{"type": "link", "from": first, "to": second}], "resumeRequestKey": "k-1"}
    assert (await client.post("/v2/bot/richmenu/validate/batch", json=replace)).status_code == 200
    accepted = await client.post("/v2/bot/richmenu/batch", json=replace)
    assert accepted.status_code == 202
    assert [await linked(u) for u in ("Ua", "Ub", "Uc")] == [second, second, second]
    progress = await client.get(
        "/v2/bot/richmenu/progress/batch", params={"requestId": accepted.headers["x-line-request-id"]}
    )
    assert spec.validate("RichMenuBatchProgressResponse", progress.json()) == []
    assert progress.json()["phase"] == "succeeded"
    assert (
        await client.get("/v2/bot/richmenu/progress/batch", params={"requestId": "nope"})
    ).status_code == 404

    await client.post("/v2/bot/richmenu/batch", json={"operations": [{"type": "unlink", "from": first}]})
    assert await linked("Ua") == second  # nobody is linked to `first` any more
    await client.post("/v2/bot/richmenu/batch", json={"operations": [{"type": "unlinkAll"}]})
    assert [await linked(u) for u in ("Ua", "Ub", "Uc")] == [None, None, None]
