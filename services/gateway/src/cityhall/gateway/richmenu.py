"""The rich menus: the main one, eight postback areas (`MENU_AREAS`, two rows), and the disaster
menu of disaster mode, four (`DISASTER_AREAS`, two by two); images drawn here, created through the SDK.

`cityhall line richmenu` creates it on the channel that `LINE_CHANNEL_ACCESS_TOKEN` opens,
at `LINE_API_URL` (the emulator) or at LINE itself when that is unset. The embedded run
calls `ensure_default_rich_menu` at start, so the simulator shows the menu at once.

Each area is a postback whose data names the domain that owns the tap
(`domain=certificates&action=menu`): the gateway routes it there.
"""

from __future__ import annotations

import asyncio
import io
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    PostbackAction,
    RichMenuArea,
    RichMenuBounds,
    RichMenuRequest,
    RichMenuSize,
)
from linebot.v3.messaging.exceptions import ApiException
from PIL import Image, ImageDraw, ImageFont

from cityhall.events.backoff import Backoff
from cityhall.gateway.declared import DISASTER_TILES, TILES, tile_data
from cityhall.runtime.declarations import DISASTER_AREAS, MENU_AREAS, Tile
from cityhall.runtime.service import LINE_API, Settings

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 2500, 1686
ROWS = 2
MENU_NAME = "Pocket City Hall main menu"
DISASTER_MENU_NAME = "Pocket City Hall disaster menu"


@dataclass(frozen=True)
class Menu:
    """A rich menu of `tiles` on a grid of `columns` by `ROWS` (a menu's `name` is for managing
    it and never shown: the channel's menus are found by it)."""

    name: str
    tiles: tuple[Tile, ...]
    columns: int
    chat_bar_text: str


MAIN = Menu(MENU_NAME, TILES, MENU_AREAS // ROWS, "メニュー")
DISASTER = Menu(DISASTER_MENU_NAME, DISASTER_TILES, DISASTER_AREAS // ROWS, "災害時メニュー")


def _bounds(index: int, columns: int) -> RichMenuBounds:
    column, row = index % columns, index // columns
    left, right = WIDTH * column // columns, WIDTH * (column + 1) // columns
    top, bottom = HEIGHT * row // ROWS, HEIGHT * (row + 1) // ROWS
    return RichMenuBounds(x=left, y=top, width=right - left, height=bottom - top)


def rich_menu_request(menu: Menu = MAIN) -> RichMenuRequest:
    return RichMenuRequest(
        size=RichMenuSize(width=WIDTH, height=HEIGHT),
        selected=True,
        name=menu.name,
        chatBarText=menu.chat_bar_text,
        areas=[
            RichMenuArea(
                bounds=_bounds(i, menu.columns),
                action=PostbackAction(label=tile.label, data=tile_data(tile), displayText=tile.label),
            )
            for i, tile in enumerate(menu.tiles)
        ],
    )


# --- the image ------------------------------------------------------------------------------------

_FONT_PATHS = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 0),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc", 0),
    ("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc", 0),
)


def japanese_font_file() -> tuple[str, int] | None:
    """(file, face index) of Noto Sans CJK JP (Debian's fonts-noto-cjk), via fc-match or known paths."""
    fc_match = shutil.which("fc-match")
    if fc_match is not None:
        try:
            out = subprocess.run(
                [fc_match, "-f", "%{file}|%{index}|%{family}", "Noto Sans CJK JP:style=Bold"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout
            file, face, family = [*out.split("|", 2), "", ""][:3]
            if "CJK" in family and Path(file).is_file():
                return file, int(face or 0)
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
    for path, index in _FONT_PATHS:
        if Path(path).is_file():
            return path, index
    return None


class _Fonts:
    def __init__(self) -> None:
        self.source = japanese_font_file()
        if self.source is None:
            log.warning(
                "no Japanese font found (install Debian's fonts-noto-cjk); "
                "the rich menu image falls back to PIL's default font and its labels may not render"
            )

    def get(self, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        if self.source is None:
            return ImageFont.load_default(size)
        return ImageFont.truetype(self.source[0], size, index=self.source[1])


def draw_menu_image(menu: Menu = MAIN) -> bytes:
    """The 2500x1686 PNG: one colored card per area, an icon, the label and what it covers."""
    fonts = _Fonts()
    image = Image.new("RGB", (WIDTH, HEIGHT), "#eef1f5")
    draw = ImageDraw.Draw(image)
    icon_font, label_font, sub_font = fonts.get(150), fonts.get(88), fonts.get(46)
    margin = 18
    for i, tile in enumerate(menu.tiles):
        b = _bounds(i, menu.columns)
        box = (b.x + margin, b.y + margin, b.x + b.width - margin, b.y + b.height - margin)
        draw.rounded_rectangle(box, radius=48, fill=tile.color)
        cx = b.x + b.width // 2
        top = b.y + 150
        draw.ellipse((cx - 150, top, cx + 150, top + 300), fill="white")
        draw.text((cx, top + 150), tile.icon, font=icon_font, fill=tile.color, anchor="mm")
        draw.text((cx, top + 450), tile.label, font=label_font, fill="white", anchor="mm")
        draw.text((cx, top + 590), tile.subtitle, font=sub_font, fill="white", anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


# --- through the SDK --------------------------------------------------------------------------------


def sdk_configuration(settings: Settings) -> Configuration:
    """The SDK pointed at `LINE_API_URL`; unset (or LINE's own address) leaves each API its own
    host, so the image upload goes to api-data.line.me as LINE requires."""
    if not settings.line_channel_access_token:
        raise ValueError("LINE_CHANNEL_ACCESS_TOKEN is required")
    host = settings.line_api_url.rstrip("/") if settings.line_api_url else None
    return Configuration(
        host=None if host in (None, LINE_API) else host, access_token=settings.line_channel_access_token
    )


async def default_rich_menu_id(configuration: Configuration) -> str | None:
    async with AsyncApiClient(configuration) as client:
        try:
            response = await AsyncMessagingApi(client).get_default_rich_menu_id()
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        rich_menu_id: str = response.rich_menu_id
        return rich_menu_id


async def create_rich_menu(
    configuration: Configuration, image: bytes | None = None, *, menu: Menu = MAIN, default: bool = True
) -> str:
    """Create the menu, upload its image, make it every user's default (unless not `default`); its id."""
    image = image if image is not None else await asyncio.to_thread(draw_menu_image, menu)
    async with AsyncApiClient(configuration) as client:
        api = AsyncMessagingApi(client)
        created = await api.create_rich_menu(rich_menu_request(menu))
        rich_menu_id: str = created.rich_menu_id
        await AsyncMessagingApiBlob(client).set_rich_menu_image(
            rich_menu_id, body=image, _headers={"Content-Type": "image/png"}
        )
        if default:
            await api.set_default_rich_menu(rich_menu_id)
    return rich_menu_id


async def ensure_default_rich_menu(
    configuration: Configuration, *, attempts: int = 30, delay: float = 1.0
) -> str | None:
    """For the embedded run: create the menu unless the channel has a default one already.

    Best effort: the emulator is served by the same process, which may not listen yet, so it
    tries `attempts` times; failures are logged, never raised. Returns the new menu's id.
    """
    retry = Backoff(base=delay, cap=delay, jitter=False, max_attempts=attempts)  # a steady pace
    attempt = 0
    while True:
        attempt += 1
        try:
            if await default_rich_menu_id(configuration) is not None:
                return None
            rich_menu_id = await create_rich_menu(configuration)
            log.info("rich menu %s created and set as the default", rich_menu_id)
            return rich_menu_id
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if retry.gives_up(attempt):
                log.warning("could not create the rich menu (%s); run `cityhall line richmenu`", exc)
                return None
            await asyncio.sleep(retry.delay(attempt))


# --- the command ------------------------------------------------------------------------------------

cli = typer.Typer(help="LINE channel set-up.", no_args_is_help=True)


@cli.command("richmenu")
def richmenu_command(
    if_missing: Annotated[
        bool, typer.Option("--if-missing", help="Do nothing when a default rich menu exists.")
    ] = False,
    image_out: Annotated[
        Path | None, typer.Option("--image-out", help="Also save the drawn PNG here.")
    ] = None,
) -> None:
    """Create the rich menu (証明書・予約・通報・防災/避難所・配信設定・よくある質問) and set it as the default.

    Uses LINE_CHANNEL_ACCESS_TOKEN, and LINE_API_URL when set (e.g. the emulator).
    """
    settings = Settings.from_env()
    if not settings.line_channel_access_token:
        raise typer.BadParameter("set LINE_CHANNEL_ACCESS_TOKEN (and LINE_API_URL for the emulator)")
    configuration = sdk_configuration(settings)

    async def main() -> str | None:
        if if_missing and (existing := await default_rich_menu_id(configuration)) is not None:
            print(f"a default rich menu exists already: {existing}")
            return None
        image = await asyncio.to_thread(draw_menu_image)
        if image_out is not None:
            await asyncio.to_thread(image_out.write_bytes, image)
        return await create_rich_menu(configuration, image)

    try:
        rich_menu_id = asyncio.run(main())
    except ApiException as exc:
        typer.echo(f"LINE refused: {exc.status} {exc.reason}: {exc.body!r}", err=True)
        raise typer.Exit(1) from None
    if rich_menu_id is not None:
        print(f"rich menu {rich_menu_id} created and set as the default")
