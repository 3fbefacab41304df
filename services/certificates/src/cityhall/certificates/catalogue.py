"""The catalogue the municipality edits: certificates with fees, options and postage; purposes;
accepted identity documents; reasons the identity check may give.

Loaded from `catalogue.yaml` in this package, or the file named by
`CITYHALL_CERTIFICATES_CATALOGUE`, and validated with pydantic when the service starts: a bad
catalogue stops the start with a message naming the file, the place and what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cityhall.certificates.events import ExtraField
from cityhall.certificates.settings import CertificatesEnv

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
# LINE shows at most 20 characters on a quick-reply button.
ButtonLabel = Annotated[str, Field(min_length=1, max_length=20)]
# A quick reply holds at most 13 buttons.
MAX_CHOICES = 13


class CatalogueError(Exception):
    """The catalogue file cannot be used; the message says where and why."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Choice(_Model):
    value: Code
    label: ButtonLabel


class Option(_Model):
    key: Code
    label: Annotated[str, Field(min_length=1, max_length=40)]
    question: Annotated[str, Field(min_length=1, max_length=200)]
    choices: Annotated[list[Choice], Field(min_length=1, max_length=MAX_CHOICES)]

    @model_validator(mode="after")
    def _unique_values(self) -> Self:
        _unique([c.value for c in self.choices], f"option {self.key}: choice value")
        return self

    def choice(self, value: str) -> Choice | None:
        return next((c for c in self.choices if c.value == value), None)


class Certificate(_Model):
    code: Code
    name: Annotated[str, Field(min_length=1, max_length=40)]
    description: Annotated[str, Field(max_length=200)] = ""
    fee: Annotated[int, Field(ge=0, le=100_000)]
    """Yen per copy."""
    postage: Annotated[int, Field(ge=0, le=10_000)]
    """Yen per request."""
    options: list[Option] = Field(default_factory=list)
    registrant_only: bool = False
    """Only the registered person may request it (the 印鑑登録証明書): the menu and the dialog say
    so, and the catalogue gives it no option for whose certificate it is."""
    asks: list[ExtraField] = Field(default_factory=list)
    """Personal fields asked besides name, birth date, address and phone (e.g. `seal_number`)."""

    @model_validator(mode="after")
    def _unique_keys(self) -> Self:
        _unique([o.key for o in self.options], f"certificate {self.code}: option key")
        _unique(list(self.asks), f"certificate {self.code}: asked field")
        return self

    def option(self, key: str) -> Option | None:
        return next((o for o in self.options if o.key == key), None)

    def total(self, copies: int) -> int:
        return self.fee * copies + self.postage


class Labelled(_Model):
    code: Code
    label: ButtonLabel


class Reason(_Model):
    code: Code
    label: Annotated[str, Field(min_length=1, max_length=80)]


class Catalogue(_Model):
    service_level_hours: Annotated[int, Field(ge=1, le=24 * 60)] = 48
    certificates: Annotated[list[Certificate], Field(min_length=1, max_length=10)]
    """A carousel shows at most 10 bubbles."""
    purposes: Annotated[list[Labelled], Field(min_length=1, max_length=MAX_CHOICES)]
    id_documents: Annotated[list[Labelled], Field(min_length=1, max_length=MAX_CHOICES)]
    rejection_reasons: Annotated[list[Reason], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_codes(self) -> Self:
        _unique([c.code for c in self.certificates], "certificate code")
        _unique([p.code for p in self.purposes], "purpose code")
        _unique([d.code for d in self.id_documents], "id document code")
        _unique([r.code for r in self.rejection_reasons], "rejection reason code")
        return self

    def certificate(self, code: str) -> Certificate | None:
        return next((c for c in self.certificates if c.code == code), None)

    def purpose(self, code: str) -> Labelled | None:
        return next((p for p in self.purposes if p.code == code), None)

    def id_document(self, code: str) -> Labelled | None:
        return next((d for d in self.id_documents if d.code == code), None)

    def rejection_reason(self, code: str) -> Reason | None:
        return next((r for r in self.rejection_reasons if r.code == code), None)


def _unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} {value!r} appears twice")
        seen.add(value)


def parse(text: str, origin: str) -> Catalogue:
    """A catalogue from YAML text; `CatalogueError` naming `origin` when it is not a valid one."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogueError(f"certificate catalogue {origin} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise CatalogueError(f"certificate catalogue {origin} must be a mapping at the top level")
    try:
        return Catalogue.model_validate(data)
    except ValidationError as exc:
        problems = "\n".join(
            f"  - {'.'.join(str(p) for p in error['loc']) or '(top level)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise CatalogueError(f"certificate catalogue {origin} is invalid:\n{problems}") from exc


def load(env: Mapping[str, str] | None = None) -> Catalogue:
    """The catalogue named by `CITYHALL_CERTIFICATES_CATALOGUE`, else the packaged one."""
    path = CertificatesEnv.read(env).catalogue
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogueError(f"certificate catalogue {path} cannot be read: {exc}") from exc
        return parse(text, path)
    packaged = resources.files("cityhall.certificates").joinpath("catalogue.yaml")
    return parse(packaged.read_text(encoding="utf-8"), "catalogue.yaml (packaged)")
