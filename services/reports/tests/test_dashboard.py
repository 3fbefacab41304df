"""The dashboard's pure pieces: SLA overdue per category, the regions a clerk marks to blur."""

from datetime import UTC, datetime, timedelta

import pytest

from cityhall.events.decider import DomainError
from cityhall.reports.api import overdue, parse_regions

NOW = datetime(2026, 12, 5, 9, tzinfo=UTC)


def test_a_report_is_overdue_past_its_categorys_sla_while_it_is_open() -> None:
    animal = {"category": "animal", "status": "open", "filed_at": NOW - timedelta(days=1, minutes=1)}
    graffiti = {"category": "graffiti", "status": "accepted", "filed_at": NOW - timedelta(days=13)}
    assert overdue(animal, NOW) and not overdue(graffiti, NOW)
    assert overdue(graffiti | {"filed_at": NOW - timedelta(days=15)}, NOW)
    assert not overdue(animal | {"status": "resolved"}, NOW)


def test_regions_are_percentages_one_a_line() -> None:
    assert parse_regions("10,20,30,5\n\n0、0、100、100") == [(10, 20, 30, 5), (0, 0, 100, 100)]
    assert parse_regions("") == []
    for bad in ("10,20,30", "a,b,c,d", "-1,0,10,10", "0,0,0,10", "50,50,101,10"):
        with pytest.raises(DomainError):
            parse_regions(bad)
