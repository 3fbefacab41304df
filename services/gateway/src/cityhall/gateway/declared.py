"""What the installed services declare, as the gateway uses it (`cityhall.runtime.registry`):
read once, when the gateway is imported. In the distributed mode the gateway's image installs
every service's package without its dependencies, for these declarations."""

from __future__ import annotations

from cityhall.line import postback
from cityhall.runtime import registry
from cityhall.runtime.declarations import Tile

DOMAINS: tuple[str, ...] = registry.domains()
"""Every LINE domain: those services consume and those the menu leads to (the gateway answers
the ones no running service consumes)."""

TILES = registry.tiles()
"""The rich menu's tiles (`MENU_AREAS`), left to right, top row first."""

DISASTER_TILES = registry.disaster_tiles()
"""The disaster menu's tiles (`DISASTER_AREAS`), shown to every resident in disaster mode."""


def tile_data(tile: Tile) -> str:
    """The postback data of a tile's tap."""
    return postback.encode(tile.domain, tile.action)
