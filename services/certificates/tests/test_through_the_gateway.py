"""A resident reaches certificates as LINE delivers a resident's acts: signed webhooks to the gateway,
which routes them, with the replies read at the LINE emulator (the services composed as the
embedded run composes them)."""

from __future__ import annotations

from pathlib import Path

import httpx

from cityhall.certificates import spec as certificates
from cityhall.gateway import spec as gateway
from cityhall.gateway.testing import Webhooks
from cityhall.line.testing import Resident, find_postback, new_user
from cityhall.line_emulator.testing import EmulatorServer
from cityhall.notify import spec as notify
from cityhall.runtime.testing import compose, serving_settings

SECRET = "through-the-gateway-channel-secret"


async def test_a_resident_types_then_taps_through_the_gateway(fresh_database: str, tmp_path: Path) -> None:
    with EmulatorServer() as emulator:
        settings = serving_settings(
            tmp_path,
            line_channel_secret=SECRET,
            line_channel_access_token="through-the-gateway-token",
            line_api_url=emulator.url,
        )
        specs = [gateway.service, certificates.service, notify.service]
        async with (
            compose(specs, settings, fresh_database) as composed,
            httpx.AsyncClient(base_url=emulator.url, timeout=20) as line,
        ):
            resident = Resident(new_user(), line, Webhooks(composed.http(), SECRET))
            # No dialog yet: the gateway answers a request it recognises with the tile that starts it.
            pointer = await resident.say("住民票がほしいです", expect="メニューの「証明書」からどうぞ")
            # The tile's postback goes to certificates, which answers with its list.
            await resident.tap(find_postback(pointer, "証明書"), expect="申請できる証明書の一覧")
