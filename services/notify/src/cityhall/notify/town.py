"""The town's districts (町丁目) as notify stores and offers them, read from the town's own package.

`cityhall.town` (the districts as GeoJSON, with each district's 学区) is the one place the town's
geography is written; this module adds only what is notify's own: the small integer each district
has in the code table (`CODES`: stored in `audience`, so never changed or reused). A district the
town adds without a code here stops notify at start, rather than being silently unselectable.
"""

from __future__ import annotations

from dataclasses import dataclass

from cityhall import town as geography

CODES: dict[str, int] = {"honcho": 1, "kita": 2, "higashi": 3, "minami": 4, "nishi": 5}
"""The code-table code of each district of `cityhall.town`, by its key."""


@dataclass(frozen=True)
class District:
    code: int
    """Stable small integer stored in the code table (never reused)."""
    key: str
    """Stable name in segments and postbacks (`cityhall.town`'s key)."""
    name: str
    """町丁目 as residents read it."""
    school: str
    """The 学区 (elementary school district) it belongs to."""


def _districts() -> tuple[District, ...]:
    found = []
    for district in geography.districts():
        if district.key not in CODES:
            raise RuntimeError(
                f"the town's district {district.key!r} has no code in cityhall.notify.town.CODES"
            )
        found.append(District(CODES[district.key], district.key, district.name, district.school))
    return tuple(found)


DISTRICTS: tuple[District, ...] = _districts()
BY_KEY = {d.key: d for d in DISTRICTS}
SCHOOLS: tuple[str, ...] = tuple(dict.fromkeys(d.school for d in DISTRICTS))
"""学区, in the order of their first district."""


def school_districts(schools: list[str] | tuple[str, ...]) -> list[int]:
    """The codes of the districts in `schools`: a 学区 is derived from the district, never stored."""
    return [d.code for d in DISTRICTS if d.school in schools]
