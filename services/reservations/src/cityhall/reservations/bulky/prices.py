"""The bulky-waste price list (`prices.toml` in this package), checked against the catalogue when
the service starts, and its pure rules: the search by name, a pickup's lines and its fee.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Sequence
from importlib import resources
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cityhall.reservations.bulky.events import Line
from cityhall.reservations.catalogue import Catalogue, CatalogueError, Code, Resource, problems
from cityhall.town import district as town_district

CATEGORY = "bulky"
"""The catalogue's category whose resources are the districts' pickups."""
MAX_CHOICES = 12
"""Items offered as quick replies at once (LINE shows 13; one is やめる)."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Item(_Model):
    code: Code
    name: Annotated[str, Field(min_length=1, max_length=20)]
    fee: Annotated[int, Field(ge=0, le=100_000)]
    note: Annotated[str, Field(max_length=60)] = ""
    keywords: list[Annotated[str, Field(min_length=1, max_length=20)]] = Field(default_factory=list)


class NotCollected(_Model):
    keywords: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    reason: Annotated[str, Field(min_length=1, max_length=200)]


class PriceList(_Model):
    hold_minutes: Annotated[int, Field(ge=5, le=24 * 60)]
    max_kinds: Annotated[int, Field(ge=1, le=MAX_CHOICES)]
    max_count: Annotated[int, Field(ge=1, le=10)]
    phone: Annotated[str, Field(min_length=1, max_length=200)]
    districts: dict[str, Code]
    """A district's key (libs/town) → its pickup resource in the catalogue."""
    items: Annotated[list[Item], Field(min_length=1)]
    not_collected: list[NotCollected] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        codes = [i.code for i in self.items]
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            raise ValueError(f"item code {', '.join(repeated)} is repeated")
        unknown = sorted(k for k in self.districts if town_district(k) is None)
        if unknown:
            raise ValueError(f"district {', '.join(unknown)} is not a district of the town")
        return self

    def item(self, code: str) -> Item | None:
        return next((i for i in self.items if i.code == code), None)

    def resource_of(self, catalogue: Catalogue, district: str) -> Resource | None:
        code = self.districts.get(district)
        return catalogue.resource(code) if code else None

    def district_of(self, resource: str) -> str | None:
        return next((d for d, r in self.districts.items() if r == resource), None)

    def search(self, text: str) -> list[Item]:
        """The items whose name or keywords match what the resident typed (either way round:
        「ソファ」 finds both sofas, 「2人掛けのソファ」 finds them too)."""
        query = fold(text)
        if not query:
            return []
        found = []
        for item in self.items:
            words = [fold(_stem(item.name)), *(fold(k) for k in item.keywords)]
            if query in fold(item.name) or any(w and (w in query or query in w) for w in words):
                found.append(item)
        return found

    def refusal(self, text: str) -> str | None:
        """Why what the resident typed is not collected as bulky waste, if it is such a thing."""
        query = fold(text)
        for entry in self.not_collected:
            if query and any(fold(k) in query or query in fold(k) for k in entry.keywords):
                return entry.reason
        return None

    def lines(self, cart: str) -> list[Line]:
        """A session's cart (`code:count,…`) as lines of the price list (unknown codes dropped)."""
        found = []
        for code, count in parse_cart(cart):
            item = self.item(code)
            if item is not None:
                found.append(Line(code=item.code, name=item.name, fee=item.fee, count=count))
        return found

    def check(self, catalogue: Catalogue) -> None:
        """Every district's pickup is a resource of the catalogue's `bulky` category."""
        for district, code in self.districts.items():
            resource = catalogue.resource(code)
            if resource is None or resource.category != CATEGORY:
                raise CatalogueError(
                    f"bulky/prices.toml: district {district}: {code} is not a {CATEGORY} resource of the catalogue"
                )


def fee(lines: Sequence[Line]) -> int:
    return sum(line.total for line in lines)


def parse_cart(cart: str) -> list[tuple[str, int]]:
    found = []
    for part in cart.split(","):
        code, _, count = part.partition(":")
        if code and count.isdecimal():
            found.append((code, int(count)))
    return found


def put(cart: str, code: str, count: int) -> str:
    """The cart with `count` of `code` (replacing what it had of it; 0 removes it)."""
    kept = [(c, n) for c, n in parse_cart(cart) if c != code]
    if count > 0:
        kept.append((code, count))
    return ",".join(f"{c}:{n}" for c, n in kept)


def fold(text: str) -> str:
    """For matching: NFKC, lower case, katakana as hiragana, no spaces or brackets."""
    normal = unicodedata.normalize("NFKC", text).lower()
    hiragana = "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in normal)
    return re.sub(r"[\s()（）・、,。.]", "", hiragana)


def _stem(name: str) -> str:
    """A name without its parenthesised detail: ソファ（1人掛け） → ソファ."""
    return re.split(r"[（(]", name, maxsplit=1)[0]


def load() -> PriceList:
    file = resources.files("cityhall.reservations.bulky") / "prices.toml"
    name = "cityhall/reservations/bulky/prices.toml"
    try:
        return PriceList.model_validate(tomllib.loads(file.read_text(encoding="utf-8")))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{name}: not TOML: {exc}") from exc
    except ValidationError as exc:
        raise CatalogueError(f"{name}: {problems(exc)}") from exc
