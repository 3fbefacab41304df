"""The sample town's districts (町丁目) and the school district (学区) each belongs to.

The one place notify reads the town's geography from: the settings dialog offers these
districts, the code table stores their codes and segments name them. When the town's own
package (`cityhall.town`, the districts as GeoJSON) is installed, this module is the only one
to point at it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class District:
    code: int
    """Stable small integer stored in the code table (never reused)."""
    key: str
    """Stable name in segments and postbacks."""
    name: str
    """町丁目 as residents read it."""
    school: str
    """The 学区 (elementary school district) it belongs to."""


DISTRICTS: tuple[District, ...] = (
    District(1, "honcho", "本町", "中央小学校区"),
    District(2, "kita", "北町", "中央小学校区"),
    District(3, "higashi", "東町", "東小学校区"),
    District(4, "minami", "南町", "東小学校区"),
    District(5, "nishi", "西町", "西小学校区"),
)

BY_KEY = {d.key: d for d in DISTRICTS}
SCHOOLS: tuple[str, ...] = tuple(dict.fromkeys(d.school for d in DISTRICTS))
"""学区, in the order of their first district."""


def school_districts(schools: list[str] | tuple[str, ...]) -> list[int]:
    """The codes of the districts in `schools`: a 学区 is derived from the district, never stored."""
    return [d.code for d in DISTRICTS if d.school in schools]
