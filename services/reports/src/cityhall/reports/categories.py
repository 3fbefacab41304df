"""What residents can report, which department answers it, and where a report goes (pure data).

Routing is category × district: each category has its department, and a few districts hand a
category to another one (本町's street trees are 道路管理課's, not 公園緑地課's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Department:
    key: str
    """The staff role (`roads`); the queue's name."""
    name: str
    phone: str


@dataclass(frozen=True)
class Category:
    key: str
    name: str
    department: str
    radius_m: float
    """Open reports of the category this close are offered as the same one."""
    sla: timedelta
    """How long a report may stay open before it is overdue."""
    open311_code: str


DEPARTMENTS = {
    d.key: d
    for d in (
        Department("roads", "道路管理課", "0299-00-1301"),
        Department("parks", "公園緑地課", "0299-00-1302"),
        Department("environment", "環境課", "0299-00-1501"),
    )
}

CATEGORIES = {
    c.key: c
    for c in (
        Category("pothole", "道路の穴・陥没", "roads", 30, timedelta(days=3), "001"),
        Category("streetlight", "街灯の故障", "roads", 20, timedelta(days=7), "002"),
        Category("guardrail", "ガードレール・標識の破損", "roads", 30, timedelta(days=7), "003"),
        Category("park", "公園の遊具・設備の破損", "parks", 50, timedelta(days=7), "004"),
        Category("tree", "倒木・枝の張り出し", "parks", 50, timedelta(days=3), "005"),
        Category("graffiti", "落書き", "environment", 30, timedelta(days=14), "006"),
        Category("dumping", "不法投棄", "environment", 50, timedelta(days=7), "007"),
        Category("animal", "動物の死がい", "environment", 100, timedelta(days=1), "008"),
    )
}

ROUTES: dict[tuple[str, str], str] = {
    ("tree", "honcho"): "roads",  # 本町's trees are street trees, kept by 道路管理課
}
"""(category, district) → department, where it is not the category's own."""


def route(category: str, district: str) -> str:
    """The department whose queue a report of `category` in `district` goes to."""
    return ROUTES.get((category, district), CATEGORIES[category].department)


def department_of(category: str) -> Department:
    return DEPARTMENTS[CATEGORIES[category].department]
