"""What services declare for each other (domains, menu tiles, departments, demo logins, dashboards)
is gathered from their specs: stand-ins give way to a service's own declaration, clashes are errors,
and reading the declarations imports no service."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cityhall.runtime import registry
from cityhall.runtime.declarations import MENU_AREAS, Dashboard, DemoAccount, Department, Tile
from cityhall.runtime.service import ServiceSpec


def spec(name: str, **declared: object) -> ServiceSpec:
    return ServiceSpec(name=name, mount=f"/{name}", build=f"cityhall.{name}.app:build", **declared)  # type: ignore[arg-type]


def tile(position: int, domain: str, *, placeholder: bool = False) -> Tile:
    return Tile(position, domain, "", "", "#000000", domain, placeholder=placeholder)


FRONT = spec(
    "front",
    tiles=(*(tile(p, "guide") for p in (0, 2, 3, 4, 5, 6, 7)), tile(1, "reservations", placeholder=True)),
    departments=(Department("reservations", "予約受付", placeholder=True), Department("staff", "職員")),
    demo_accounts=(DemoAccount("resv-clerk", "予約受付係 目黒", ("reservations",), placeholder=True),),
)
RESERVATIONS = spec(
    "reservations",
    domains=("reservations",),
    tiles=(tile(1, "reservations"),),
    departments=(Department("reservations", "市民相談課 予約係"),),
    demo_accounts=(DemoAccount("resv-clerk", "予約係 目黒", ("reservations",)),),
    dashboards=(Dashboard("reservations", "予約", "/staff/reservations/", ("reservations",)),),
)


def test_a_service_replaces_the_stand_ins_for_its_department_tile_and_demo_login() -> None:
    alone = [FRONT]
    assert registry.tiles(alone)[1].placeholder
    assert registry.departments(alone)["reservations"] == "予約受付"

    both = [FRONT, RESERVATIONS]
    menu = registry.tiles(both)
    assert [t.position for t in menu] == list(range(MENU_AREAS))
    assert menu[1] == tile(1, "reservations") and not menu[1].placeholder
    assert registry.departments(both) == {"reservations": "市民相談課 予約係", "staff": "職員"}
    assert registry.demo_accounts(both) == (DemoAccount("resv-clerk", "予約係 目黒", ("reservations",)),)
    assert [d.key for d in registry.dashboards(both)] == ["reservations"]
    assert registry.domains(both) == ("guide", "reservations")
    # The order of the specs does not matter.
    assert registry.tiles([RESERVATIONS, FRONT]) == menu


def test_clashing_declarations_are_clear_errors() -> None:
    other = spec("other", tiles=(tile(1, "reports"),), departments=(Department("reservations", "X"),))
    with pytest.raises(ValueError, match="menu position 1"):
        registry.tiles([FRONT, RESERVATIONS, other])
    with pytest.raises(ValueError, match="role 'reservations'"):
        registry.departments([RESERVATIONS, other])
    with pytest.raises(ValueError, match=r"no tile declared for menu position\(s\) \[1\]"):
        registry.tiles([spec("few", tiles=tuple(tile(p, "guide") for p in (0, 2, 3, 4, 5, 6, 7)))])
    with pytest.raises(ValueError, match="have no area"):
        registry.tiles([spec("far", tiles=(tile(8, "guide"),))])
    with pytest.raises(ValueError, match=r"no tile declared for disaster menu position\(s\) \[3\]"):
        registry.disaster_tiles([spec("few", disaster_tiles=tuple(tile(p, "guide") for p in (0, 1, 2)))])
    with pytest.raises(ValueError, match="have no area"):
        registry.disaster_tiles([spec("far", disaster_tiles=(tile(4, "guide"),))])


def test_the_disaster_menu_is_declared_like_the_menu() -> None:
    guide = spec("guide", disaster_tiles=(tile(0, "guide"),))
    front = spec(
        "front", disaster_tiles=(tile(0, "guide", placeholder=True), *(tile(p, "notify") for p in (1, 2, 3)))
    )
    assert registry.disaster_tiles([front])[0].placeholder
    assert registry.disaster_tiles([front, guide]) == registry.disaster_tiles([guide, front])
    assert not registry.disaster_tiles([front, guide])[0].placeholder
    assert "notify" in registry.domains([front])
    assert [(t.domain, t.action) for t in registry.disaster_tiles()] == [
        ("guide", "shelters"),
        ("notify", "safety_now"),
        ("notify", "alerts"),
        ("guide", "disaster_contact"),
    ]


def test_the_installed_services_declare_todays_menu_departments_and_logins() -> None:
    menu = registry.tiles()
    assert [(t.domain, t.action) for t in menu] == [
        ("certificates", "menu"),
        ("reservations", "menu"),
        ("reports", "menu"),
        ("guide", "shelters"),
        ("notify", "settings"),
        ("guide", "faq"),
        ("voice", "menu"),
        ("notify", "howto"),
    ]
    assert set(registry.domains()) == {
        "guide",
        "notify",
        "certificates",
        "reservations",
        "reports",
        "voice",
        "community",
    }
    assert registry.departments()["roads"] == "道路管理課"  # reports' (it replaced the portal's stand-in)
    assert registry.departments()["parks"] == "公園緑地課"
    assert {a.username for a in registry.demo_accounts()} == {
        "cert-clerk",
        "cert-admin",
        "roads-clerk",
        "resv-clerk",
        "notify-clerk",
        "notify-author",
        "notify-approver",
        "notify-admin",
        "bousai",
        "voice-clerk",
        "kyodo-clerk",
        "kyodo-admin",
        "roads-admin",
        "parks-clerk",
        "env-clerk",
        "kosodate-clerk",
        "kenko-clerk",
        "shimin-clerk",
        "kominkan-clerk",
        "gomi-clerk",
    }


def test_reading_the_declarations_imports_no_services_composition() -> None:
    code = (
        "import sys\n"
        "from cityhall.runtime import registry\n"
        "registry.tiles(), registry.departments(), registry.dashboards()\n"
        "apps = ['cityhall.certificates.app', 'cityhall.notify.app', 'cityhall.gateway.app',"
        " 'cityhall.web.portal.app', 'cityhall.reports.app']\n"
        "print([m for m in apps if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
