"""What services declare for the others, gathered from their `ServiceSpec`s; no list names them.

A service's spec (entry-point group `cityhall.services`) declares, besides how to start it:
- `domains`: the LINE domains whose intents it consumes;
- `tiles`: its rich-menu tiles (the gateway draws the menu and routes their postbacks);
- `disaster_tiles`: its tiles of the disaster menu (disaster mode);
- `departments`: the staff roles it brings and their Japanese names (the staff pages);
- `demo_accounts`: the staff logins the embedded run creates for it;
- `dashboards`: the links the staff portal shows.

These functions read every installed spec. A spec module imports only the runtime: its `build`
is "module:function", imported when the service starts, so reading declarations never imports
a service's heavy parts. In the distributed mode each image installs its own service with its
dependencies and every other service's package without them (`--no-deps`): the gateway and the
staff portal then see every declaration, and run nothing but themselves.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from cityhall.runtime.declarations import DISASTER_AREAS, MENU_AREAS, Dashboard, DemoAccount, Tile
from cityhall.runtime.service import ServiceSpec, installed, load

log = logging.getLogger(__name__)


@functools.cache
def _installed() -> tuple[ServiceSpec, ...]:
    """Read once per process: installed packages do not change while it runs. A spec that cannot
    be imported here (a tool's, installed without its dependencies) declares nothing here."""
    specs = []
    for name in installed():
        try:
            specs.append(load(name))
        except ImportError as exc:
            log.warning("service %s declares nothing here: its spec does not import (%s)", name, exc)
    return tuple(specs)


def _specs(specs: Iterable[ServiceSpec] | None) -> Iterable[ServiceSpec]:
    return _installed() if specs is None else specs


def domains(specs: Iterable[ServiceSpec] | None = None) -> tuple[str, ...]:
    """Every LINE domain a service consumes or a menu tile leads to, in declaration order."""
    found: dict[str, None] = {}
    for spec in _specs(specs):
        found.update(dict.fromkeys(spec.domains))
        found.update(dict.fromkeys(t.domain for t in (*spec.tiles, *spec.disaster_tiles)))
    return tuple(found)


class _Declared(Protocol):
    @property
    def placeholder(self) -> bool: ...


D = TypeVar("D", bound=_Declared)


def _merge(items: Iterable[D], key: Callable[[D], object], what: str) -> dict[object, D]:
    """One item per key: a service's declaration replaces a stand-in (`placeholder`); two
    services declaring the same key is an error."""
    chosen: dict[object, D] = {}
    for item in items:
        held = chosen.get(key(item))
        if held is None or (held.placeholder and not item.placeholder):
            chosen[key(item)] = item
        elif not item.placeholder and not held.placeholder:
            raise ValueError(f"two services declare {what} {key(item)!r}")
    return chosen


def tiles(specs: Iterable[ServiceSpec] | None = None) -> tuple[Tile, ...]:
    """The rich menu's tiles, one per area by position (left to right, top row first)."""
    return _grid([t for spec in _specs(specs) for t in spec.tiles], MENU_AREAS, "menu")


def disaster_tiles(specs: Iterable[ServiceSpec] | None = None) -> tuple[Tile, ...]:
    """The disaster menu's tiles, one per area by position (left to right, top row first)."""
    return _grid([t for spec in _specs(specs) for t in spec.disaster_tiles], DISASTER_AREAS, "disaster menu")


def _grid(declared: list[Tile], areas: int, menu: str) -> tuple[Tile, ...]:
    outside = [t.label for t in declared if not 0 <= t.position < areas]
    if outside:
        raise ValueError(f"tiles {outside} have no area: positions are 0-{areas - 1}")
    chosen = _merge(declared, lambda t: t.position, f"the {menu} position")
    missing = sorted(set(range(areas)) - set(chosen))
    if missing:
        raise ValueError(f"no tile declared for {menu} position(s) {missing}")
    return tuple(chosen[p] for p in range(areas))


def departments(specs: Iterable[ServiceSpec] | None = None) -> dict[str, str]:
    """Japanese department names by role."""
    declared = _merge((d for spec in _specs(specs) for d in spec.departments), lambda d: d.role, "the role")
    return {d.role: d.name for d in declared.values()}


def demo_accounts(specs: Iterable[ServiceSpec] | None = None) -> tuple[DemoAccount, ...]:
    declared = (a for spec in _specs(specs) for a in spec.demo_accounts)
    return tuple(_merge(declared, lambda a: a.username, "the demo account").values())


def dashboards(specs: Iterable[ServiceSpec] | None = None) -> tuple[Dashboard, ...]:
    return tuple(d for spec in _specs(specs) for d in spec.dashboards)
