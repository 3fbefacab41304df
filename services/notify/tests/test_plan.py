"""The cost of a notice under the channel's plan (pure)."""

from __future__ import annotations

from cityhall.notify.plan import Plan


def test_a_send_within_the_free_messages_costs_nothing() -> None:
    cost = Plan().cost(used=29_000, count=1_000)
    assert (cost["additional_messages"], cost["yen"]) == (0, 0)


def test_only_the_messages_beyond_the_free_ones_are_charged() -> None:
    cost = Plan(free_messages=30_000, additional_yen=3.0).cost(used=29_000, count=1_500)
    assert (cost["additional_messages"], cost["yen"]) == (500, 1_500)


def test_once_the_free_messages_are_used_every_message_is_charged_rounded_up_to_a_yen() -> None:
    cost = Plan(free_messages=100, additional_yen=1.1).cost(used=250, count=7)
    assert (cost["additional_messages"], cost["yen"]) == (7, 8)


def test_the_defaults_are_line_japans_standard_plan() -> None:
    plan = Plan()
    assert (plan.monthly_yen, plan.free_messages, plan.additional_yen) == (15_000, 30_000, 3.0)
