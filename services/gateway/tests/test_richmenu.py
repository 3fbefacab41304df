"""The rich menu: its areas and image, created through the SDK at the LINE emulator (its own process),
by the `cityhall line richmenu` command and by the embedded run's start-up; disaster mode switches
every resident's menu to the disaster menu and back."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import typer
from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi, AsyncMessagingApiBlob, Configuration
from PIL import Image
from typer.testing import CliRunner

from cityhall.events.bus import Record
from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.events.envelope import Envelope
from cityhall.events.localpg import free_port
from cityhall.events.testing import wait_for
from cityhall.gateway.richmenu import (
    DISASTER,
    DISASTER_MENU_NAME,
    HEIGHT,
    MENU_NAME,
    TILES,
    WIDTH,
    cli,
    create_rich_menu,
    default_rich_menu_id,
    draw_menu_image,
    ensure_default_rich_menu,
    rich_menu_request,
    sdk_configuration,
)
from cityhall.gateway.spec import service
from cityhall.line.contracts import (
    DISASTER_MODE_KEY,
    DISASTER_MODE_STREAM,
    RICH_MENU_TOPIC,
    DisasterModeSwitched,
)
from cityhall.runtime.service import Settings
from cityhall.runtime.system import System

TOKEN = "richmenu-test-token"

EXPECTED = {
    "証明書": "certificates",
    "予約": "reservations",
    "通報": "reports",
    "防災/避難所": "guide",
    "配信設定": "notify",
    "よくある質問": "guide",
    "市民の声": "voice",
    "使い方": "notify",
}


@pytest.fixture(scope="module")
def emulator_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The LINE emulator as its own process (`python -m cityhall.line_emulator`)."""
    port = free_port()
    log = tmp_path_factory.mktemp("emulator") / "emulator.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cityhall.line_emulator", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        async def answers() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"the emulator exited:\n{log.read_text()}")
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(f"{url}/_inspect/stats", timeout=2)).status_code == 200
            except httpx.HTTPError:
                return False

        asyncio.run(wait_for(answers, timeout=60, interval=0.1, message="the emulator did not start"))
        yield url
    finally:
        proc.kill()
        proc.wait(10)


@pytest.fixture
async def configuration(emulator_url: str) -> AsyncIterator[Configuration]:
    async with httpx.AsyncClient() as client:
        (await client.post(f"{emulator_url}/_inspect/reset")).raise_for_status()
    yield sdk_configuration(Settings(line_channel_access_token=TOKEN, line_api_url=emulator_url))


def test_eight_postback_areas_tile_the_whole_image_each_naming_its_domain() -> None:
    request = rich_menu_request()
    assert (request.size.width, request.size.height) == (WIDTH, HEIGHT) == (2500, 1686)
    assert len(request.areas) == 8
    covered = 0
    labels = {}
    for area in request.areas:
        b = area.bounds
        assert b.x >= 0 and b.x + b.width <= WIDTH and b.y >= 0 and b.y + b.height <= HEIGHT
        covered += b.width * b.height
        action = area.action.actual_instance if hasattr(area.action, "actual_instance") else area.action
        assert action.type == "postback"
        labels[action.label] = parse_qs(action.data)["domain"][0]
    assert covered == WIDTH * HEIGHT  # no gaps and, with eight disjoint rectangles, no overlaps
    assert labels == EXPECTED


def test_the_image_is_a_2500x1686_png_under_1_mb_drawn_in_each_tiles_color() -> None:
    png = draw_menu_image()
    assert len(png) < 1024 * 1024
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size) == ("PNG", (2500, 1686))
    rgb = image.convert("RGB")
    for area, tile in zip(rich_menu_request().areas, TILES, strict=True):
        corner = (area.bounds.x + 60, area.bounds.y + 100)
        pixel = rgb.getpixel(corner)
        assert isinstance(pixel, tuple)
        assert "#" + bytes(pixel).hex() == tile.color


async def test_created_through_the_sdk_at_the_emulator_and_set_as_the_default(
    configuration: Configuration,
) -> None:
    assert await default_rich_menu_id(configuration) is None
    image = draw_menu_image()
    rich_menu_id = await create_rich_menu(configuration, image)
    assert await default_rich_menu_id(configuration) == rich_menu_id
    async with AsyncApiClient(configuration) as client:
        stored = await AsyncMessagingApiBlob(client).get_rich_menu_image(rich_menu_id)
    assert bytes(stored) == image


async def test_ensure_creates_it_once(configuration: Configuration) -> None:
    first = await ensure_default_rich_menu(configuration, attempts=1)
    assert first is not None
    assert await ensure_default_rich_menu(configuration, attempts=1) is None
    assert await default_rich_menu_id(configuration) == first


async def test_ensure_gives_up_quietly_when_nothing_answers() -> None:
    nowhere = sdk_configuration(
        Settings(line_channel_access_token=TOKEN, line_api_url=f"http://127.0.0.1:{free_port()}")
    )
    assert await ensure_default_rich_menu(nowhere, attempts=2, delay=0.01) is None


def test_the_cityhall_line_richmenu_command(emulator_url: str, tmp_path: Path) -> None:
    asyncio.run(_reset(emulator_url))
    cityhall = Path(sys.executable).parent / "cityhall"
    env = {**os.environ, "LINE_CHANNEL_ACCESS_TOKEN": TOKEN, "LINE_API_URL": emulator_url}
    out = tmp_path / "menu.png"
    done = subprocess.run(
        [str(cityhall), "line", "richmenu", "--image-out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "created and set as the default" in done.stdout
    assert Image.open(out).size == (2500, 1686)
    # The same command in-process (its entry-point registration is covered above).
    root = typer.Typer()
    root.add_typer(cli, name="line")
    again = CliRunner().invoke(root, ["line", "richmenu", "--if-missing"], env=env)
    assert again.exit_code == 0, again.output
    assert "exists already" in again.output


async def _reset(url: str) -> None:
    async with httpx.AsyncClient() as client:
        (await client.post(f"{url}/_inspect/reset")).raise_for_status()


async def test_the_embedded_run_creates_the_menu_at_start(
    fresh_database: str, emulator_url: str, configuration: Configuration
) -> None:
    settings = Settings(
        database_url=fresh_database,
        line_channel_secret="s",
        line_channel_access_token=TOKEN,
        line_api_url=emulator_url,
    )
    system = System(settings, "embedded", EmbeddedBus(fresh_database), fresh_database)
    await system.start([service])
    try:

        async def has_default() -> bool:
            return await default_rich_menu_id(configuration) is not None

        await wait_for(has_default, timeout=30, message="no default rich menu after start")
    finally:
        await system.stop()


def test_a_real_channel_leaves_each_api_its_own_host() -> None:
    """Unset or LINE's own address: no host override, so the image goes to api-data.line.me."""
    for url in (None, "https://api.line.me", "https://api.line.me/"):
        configuration = sdk_configuration(Settings(line_channel_access_token=TOKEN, line_api_url=url))
        assert configuration.host is None
        assert configuration.access_token == TOKEN
    emulator = sdk_configuration(
        Settings(line_channel_access_token=TOKEN, line_api_url="http://127.0.0.1:9/line-api/")
    )
    assert emulator.host == "http://127.0.0.1:9/line-api"
    with pytest.raises(ValueError):
        sdk_configuration(Settings(line_api_url="http://127.0.0.1:9"))


# --- disaster mode ------------------------------------------------------------------------------


def test_the_disaster_menu_has_four_areas_two_by_two() -> None:
    request = rich_menu_request(DISASTER)
    labels = {}
    for area in request.areas:
        action = area.action.actual_instance if hasattr(area.action, "actual_instance") else area.action
        labels[action.label] = parse_qs(action.data)["action"][0]
        assert (area.bounds.width, area.bounds.height) == (WIDTH // 2, HEIGHT // 2)
    assert labels == {
        "避難所": "shelters",
        "安否確認": "safety_now",
        "災害情報": "alerts",
        "問い合わせ": "disaster_contact",
    }
    assert Image.open(io.BytesIO(draw_menu_image(DISASTER))).size == (WIDTH, HEIGHT)


def _switch(on: bool, at: datetime) -> Envelope:
    """What notify's relay publishes when disaster mode is switched."""
    event = DisasterModeSwitched(on=on, by="bousai", reason="大雨特別警報", at=at)
    return Envelope.wrap(
        event,
        source="/services/notify",
        subject=DISASTER_MODE_STREAM,
        topic=RICH_MENU_TOPIC,
        key=DISASTER_MODE_KEY,
    )


async def _publish(bus: EmbeddedBus, envelope: Envelope) -> None:
    await bus.publish([Record.of(RICH_MENU_TOPIC, DISASTER_MODE_KEY, envelope)])


async def _menu_of(url: str, user_id: str) -> str | None:
    """The name of the menu the resident sees at the emulator (linked to them, or the default)."""
    async with httpx.AsyncClient() as client:
        found = await client.get(f"{url}/_inspect/richmenu", params={"userId": user_id})
    return str(found.json()["richMenu"]["name"]) if found.status_code == 200 else None


async def _menus(configuration: Configuration) -> list[str]:
    async with AsyncApiClient(configuration) as client:
        return [m.name for m in (await AsyncMessagingApi(client).get_rich_menu_list()).richmenus]


async def _embedded(database: str, url: str) -> tuple[System, EmbeddedBus]:
    settings = Settings(
        database_url=database, line_channel_secret="s", line_channel_access_token=TOKEN, line_api_url=url
    )
    bus = EmbeddedBus(database)
    system = System(settings, "embedded", bus, database)
    await system.start([service])
    system.run_background()
    return system, bus


async def test_disaster_mode_switches_every_residents_menu_and_back(
    fresh_database: str, emulator_url: str, configuration: Configuration
) -> None:
    system, bus = await _embedded(fresh_database, emulator_url)
    try:
        await wait_for(lambda: _menu_of(emulator_url, "Ulinked"), timeout=30, message="no menu after start")
        main_id = await default_rich_menu_id(configuration)
        assert main_id is not None
        async with AsyncApiClient(configuration) as client:
            # A resident with a menu linked to them alone, which would hide a new default.
            await AsyncMessagingApi(client).link_rich_menu_id_to_user("Ulinked", main_id)
        now = datetime.now(UTC)
        on = _switch(True, now)
        await _publish(bus, on)

        async def everyone_sees(name: str) -> bool:
            return [await _menu_of(emulator_url, u) for u in ("Ulinked", "Unew")] == [name, name]

        await wait_for(lambda: everyone_sees(DISASTER_MENU_NAME), timeout=30, message="not the disaster menu")
        await _publish(bus, on)  # a replayed switch
        await _publish(bus, _switch(True, now - timedelta(minutes=1)))  # an older one arriving late
        await _publish(bus, _switch(False, now + timedelta(minutes=5)))
        await wait_for(lambda: everyone_sees(MENU_NAME), timeout=30, message="not the main menu again")
        await _publish(bus, _switch(True, now + timedelta(minutes=2)))  # older than the switch off
        await _publish(bus, _switch(False, now + timedelta(minutes=9)))

        async def settled() -> bool:
            row = (
                await system.service("gateway")
                .context.require_pool()
                .fetchrow("SELECT switched_at, applied_at FROM disaster_mode")
            )
            return (
                row is not None
                and row["applied_at"] is not None
                and row["switched_at"] > now + timedelta(minutes=8)
            )

        await wait_for(settled, timeout=30, message="the last switch was not applied")
        assert await everyone_sees(MENU_NAME)
        assert sorted(await _menus(configuration)) == [DISASTER_MENU_NAME, MENU_NAME]  # each made once
    finally:
        await system.stop()


async def test_a_restart_converges_on_the_recorded_mode(
    fresh_database: str, emulator_url: str, configuration: Configuration
) -> None:
    system, bus = await _embedded(fresh_database, emulator_url)
    try:
        await _publish(bus, _switch(True, datetime.now(UTC)))

        async def disaster() -> bool:
            return await _menu_of(emulator_url, "Uanyone") == DISASTER_MENU_NAME

        await wait_for(disaster, timeout=30, message="not the disaster menu")
    finally:
        await system.stop()
    await _reset(emulator_url)  # LINE's side lost (an emulator restarted): nothing is applied
    assert await _menu_of(emulator_url, "Uanyone") is None
    system, _bus = await _embedded(fresh_database, emulator_url)
    try:
        await wait_for(disaster, timeout=30, message="the restart did not converge on disaster mode")
    finally:
        await system.stop()
