"""What residents type: normalised when right, a specific message when wrong."""

from __future__ import annotations

from datetime import date

import pytest

from cityhall.certificates.answers import (
    BadAnswer,
    parse_birth_date,
    parse_copies,
    parse_name,
    parse_phone,
    parse_postal_code,
    parse_seal_number,
    parse_street,
)

TODAY = date(2025, 4, 1)


@pytest.mark.parametrize(
    ("text", "born"),
    [
        ("1985-04-12", date(1985, 4, 12)),
        ("1985/4/12", date(1985, 4, 12)),
        ("１９８５年４月１２日", date(1985, 4, 12)),
        ("19850412", date(1985, 4, 12)),
        ("昭和60年4月12日", date(1985, 4, 12)),
        ("S60.4.12", date(1985, 4, 12)),
        ("平成元年1月8日", date(1989, 1, 8)),
        ("令和2年2月29日", date(2020, 2, 29)),
    ],
)
def test_dates_of_birth_in_the_usual_forms(text: str, born: date) -> None:
    assert parse_birth_date(text, TODAY) == born


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("1990年2月30日", "1990年2月30日という日付は存在しません"),
        ("2023/2/29", "2023年2月29日という日付は存在しません"),
        ("1990/13/1", "13月という月はありません"),
        ("平成32年1月1日", "平成の期間にない日付です"),
        ("2030/1/1", "今日より後"),
        ("きのう", "読み取れませんでした"),
    ],
)
def test_a_date_that_does_not_exist_gets_its_own_message(text: str, says: str) -> None:
    with pytest.raises(BadAnswer) as caught:
        parse_birth_date(text, TODAY)
    assert says in str(caught.value)


@pytest.mark.parametrize(
    "text", ["090-1234-5678", "０９０１２３４５６７８", "03 1234 5678", "+81-90-1234-5678"]
)
def test_phone_numbers(text: str) -> None:
    assert parse_phone(text)


def test_a_phone_number_with_letters_gets_its_own_message() -> None:
    with pytest.raises(BadAnswer) as caught:
        parse_phone("090-12ab-5678")
    assert "数字以外の文字が含まれています" in str(caught.value)
    with pytest.raises(BadAnswer) as short:
        parse_phone("090-1234")
    assert "桁数" in str(short.value)


def test_names_and_addresses() -> None:
    assert parse_name("  山田　太郎 ") == "山田 太郎"
    with pytest.raises(BadAnswer, match="数字"):
        parse_name("山田1号")
    with pytest.raises(BadAnswer, match="空"):
        parse_name("   ")


@pytest.mark.parametrize("text", ["140-0001", "1400001", "〒140-0001", "１４０ー０００１", " 140 0001 "])
def test_a_postal_code_fills_the_prefecture_and_town(text: str) -> None:
    locality = parse_postal_code(text)
    assert (locality.postal_code, locality.prefecture, locality.area) == (
        "140-0001",
        "東京都",
        "東京都品川区北品川",
    )
    assert locality.address("1-2-3") == "〒140-0001 東京都品川区北品川1-2-3"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("000-0000", "当たる住所が見つかりませんでした"),
        ("1985年4月12日", "7桁の数字"),
        ("ポケット市中央1-2-3", "7桁の数字"),
        ("140-001", "7桁の数字"),
        ("", "7桁の数字"),
    ],
)
def test_what_is_not_a_known_postal_code_gets_its_own_message(text: str, says: str) -> None:
    with pytest.raises(BadAnswer, match=says):
        parse_postal_code(text)


def test_the_rest_of_the_address() -> None:
    town = parse_postal_code("2310023")  # 神奈川県横浜市中区山下町
    assert parse_street(" 1-2-3  ハイツ101 ", town) == "1-2-3 ハイツ101"
    assert parse_street("三丁目4番", town) == "三丁目4番"
    # Retyping the town (with or without the prefecture) does not double it.
    assert parse_street(f"{town.area}1-2-3", town) == "1-2-3"
    assert parse_street(f"{town.area.removeprefix('神奈川県')}1-2-3", town) == "1-2-3"
    with pytest.raises(BadAnswer, match="日付のようです"):
        parse_street("1985年4月12日", town)
    with pytest.raises(BadAnswer, match="日付のようです"):
        parse_street("令和6年1月1日", town)
    with pytest.raises(BadAnswer, match="番地が見当たりません"):
        parse_street("駅の近く", town)
    with pytest.raises(BadAnswer, match="空"):
        parse_street(town.area, town)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("00123456", "00123456"),
        ("００１２－３４５６", "00123456"),
        ("第1234号", "1234"),
        (" 12 3456 ", "123456"),
    ],
)
def test_seal_card_numbers(text: str, number: str) -> None:
    assert parse_seal_number(text) == number


@pytest.mark.parametrize("text", ["", "123", "12345678901", "印鑑", "1985年4月12日", "AB123456"])
def test_what_is_not_a_seal_card_number_gets_its_own_message(text: str) -> None:
    with pytest.raises(BadAnswer, match="4〜10桁の数字"):
        parse_seal_number(text)


def test_copies() -> None:
    assert parse_copies("３通") == 3
    with pytest.raises(BadAnswer, match="1〜10通の範囲"):
        parse_copies("11")
    with pytest.raises(BadAnswer, match="数字"):
        parse_copies("たくさん")
