"""The catalogue the municipality edits: the packaged one is valid, a bad one stops the start clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityhall.certificates.catalogue import CatalogueError, load, parse
from cityhall.certificates.settings import CATALOGUE_ENV


def test_the_packaged_catalogue_has_the_required_certificates() -> None:
    catalogue = load({})
    names = {c.name for c in catalogue.certificates}
    assert {"住民票の写し", "住民票記載事項証明書", "課税・非課税証明書"} <= names
    juminhyo = catalogue.certificate("juminhyo")
    assert juminhyo is not None and juminhyo.fee == 300
    labels = {c.label for o in juminhyo.options for c in o.choices}
    assert {"本人のみ", "世帯全員", "記載あり", "記載なし"} <= labels
    assert juminhyo.total(2) == 2 * 300 + juminhyo.postage
    assert catalogue.purposes and catalogue.id_documents and catalogue.rejection_reasons
    # 印鑑登録証明書, as the rich menu and the welcome promise: only the registrant, with the card's number.
    inkan = catalogue.certificate("inkan")
    assert inkan is not None and inkan.name == "印鑑登録証明書"
    assert inkan.registrant_only and inkan.asks == ["seal_number"] and not inkan.options


def test_a_catalogue_file_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(
        """
certificates:
  - {code: inkan, name: 印鑑登録証明書, fee: 300, postage: 84}
purposes: [{code: other, label: その他}]
id_documents: [{code: passport, label: パスポート}]
rejection_reasons: [{code: other, label: その他}]
""",
        encoding="utf-8",
    )
    catalogue = load({CATALOGUE_ENV: str(path)})
    assert [c.name for c in catalogue.certificates] == ["印鑑登録証明書"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("certificates: [", "not valid YAML"),
        ("- a\n- b", "mapping at the top level"),
        (
            "certificates: [{code: x, name: X, fee: -1, postage: 0}]\npurposes: [{code: o, label: O}]\n"
            "id_documents: [{code: p, label: P}]\nrejection_reasons: [{code: o, label: O}]",
            "certificates.0.fee",
        ),
        (
            "certificates: [{code: x, name: X, fee: 1, postage: 0}, {code: x, name: Y, fee: 1, postage: 0}]\n"
            "purposes: [{code: o, label: O}]\nid_documents: [{code: p, label: P}]\n"
            "rejection_reasons: [{code: o, label: O}]",
            "certificate code 'x' appears twice",
        ),
        ("purposes: []", "certificates: Field required"),
    ],
)
def test_a_bad_catalogue_is_a_clear_error(text: str, says: str) -> None:
    with pytest.raises(CatalogueError) as caught:
        parse(text, "test.yaml")
    assert "test.yaml" in str(caught.value) and says in str(caught.value)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot be read"):
        load({CATALOGUE_ENV: str(tmp_path / "nope.yaml")})


async def test_a_bad_catalogue_stops_the_service_at_start(tmp_path: Path) -> None:
    from cityhall.certificates.app import Options, start
    from cityhall.events.embedded_bus import EmbeddedBus
    from cityhall.runtime.service import ServiceContext, Settings

    bad = tmp_path / "catalogue.yaml"
    bad.write_text(
        "certificates: [{code: juminhyo, name: 住民票の写し, fee: 三百, postage: 110}]\n", encoding="utf-8"
    )
    context = ServiceContext(
        "certificates",
        "embedded",
        Settings(data_dir=tmp_path),
        None,
        EmbeddedBus("postgresql://unused"),
        None,
    )
    with pytest.raises(SystemExit) as stopped:
        await start(context, Options(env={CATALOGUE_ENV: str(bad)}))
    message = str(stopped.value)
    assert str(bad) in message and "certificates.0.fee" in message and "purposes: Field required" in message
