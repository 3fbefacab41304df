"""What a service declares for the others in its `ServiceSpec` (see `cityhall.runtime.registry`):
plain data, cheap to import."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

MENU_AREAS = 8
"""The rich menu's areas: four columns, two rows (`Tile.position` 0-7, left to right, top row first).
Every area needs a tile: a new service takes a stand-in's position, or the grid grows by a column."""

DISASTER_AREAS = 4
"""The disaster menu's areas (disaster mode): two columns, two rows (`Tile.position` 0-3)."""


@dataclass(frozen=True)
class Tile:
    """One area of the rich menu: a postback to `domain` with `action` (the gateway writes its
    data with the postback codec, `cityhall.line.postback`)."""

    position: int
    label: str
    subtitle: str
    icon: str
    color: str
    domain: str
    action: str = "menu"
    placeholder: bool = False
    """A stand-in for a service not built yet: a tile of a service at the same position
    replaces it."""


@dataclass(frozen=True)
class Department:
    role: str
    """The staff role; `<role>-admin` is the department's administrator."""
    name: str
    """Japanese, e.g. 市民課 証明書係."""
    placeholder: bool = False
    """A stand-in for a department whose service is not built yet: a service's declaration of
    the same role replaces it."""


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    roles: tuple[str, ...]
    password: str = ""
    placeholder: bool = False
    """A stand-in for a service not built yet: a service's account of the same username replaces it."""


class HasRoles(Protocol):
    def has_role(self, *roles: str) -> bool: ...


@dataclass(frozen=True)
class Dashboard:
    key: str
    title: str
    """Japanese title shown on the portal."""
    path: str
    """Absolute path of the dashboard, e.g. "/staff/certificates/"."""
    roles: tuple[str, ...]
    """Any of these roles opens it."""
    description: str = ""
    order: int = 100

    def allows(self, user: HasRoles) -> bool:
        return user.has_role(*self.roles)
