"""LINE's OpenAPI documents ship inside cityhall-line; LINE_OPENAPI_DIR overrides them."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from cityhall.line import openapi


@pytest.fixture(autouse=True)
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(openapi.OVERRIDE_ENV, raising=False)


@pytest.mark.parametrize("name", openapi.DOCUMENTS)
def test_each_document_is_read_from_the_package(name: str) -> None:
    found = openapi.document(name)
    assert Path(str(found)).parent == Path(openapi.__file__).parent
    assert openapi.read_document(name).lstrip("-\n").startswith("openapi: 3.")


def test_the_override_is_read_instead_and_a_folder_without_the_document_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / openapi.WEBHOOK).write_text("openapi: 3.0.0\n", encoding="utf-8")
    monkeypatch.setenv(openapi.OVERRIDE_ENV, str(tmp_path))
    assert openapi.read_document(openapi.WEBHOOK) == "openapi: 3.0.0\n"
    with pytest.raises(
        openapi.SpecNotFoundError, match=f"{openapi.OVERRIDE_ENV}=.* has no messaging-api.yml"
    ):
        openapi.read_document(openapi.MESSAGING_API)


def test_only_lines_documents_are_served() -> None:
    with pytest.raises(ValueError, match="not one of"):
        openapi.document("../pyproject.toml")


def test_the_wheel_carries_the_documents_their_license_and_source(tmp_path: Path) -> None:
    # Images install wheels (`uv sync --no-editable`): the build backend must package the data.
    uv = os.environ.get("UV", "uv")  # `uv run` names its own binary
    root = Path(__file__).resolve().parents[3]
    subprocess.run(
        [uv, "build", "--package", "cityhall-line", "--wheel", "--out-dir", str(tmp_path), "--quiet"],
        cwd=root,
        check=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (*openapi.DOCUMENTS, "LICENSE", "SOURCE"):
        assert f"cityhall/line/openapi/{name}" in names
