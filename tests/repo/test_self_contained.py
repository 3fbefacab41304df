"""The repository stands alone: no tracked file refers to a path outside it.

A clone is all a municipality's engineer, an SRE or a tester gets, so a link, a build context or
a default that reaches beside the checkout breaks for them. Two rules, over every tracked text file:

1. A relative path that climbs (`..` then `/`) must land inside the repository when resolved from
   the folder of the file that names it (a kustomize overlay naming its base is fine; a README
   linking to a folder beside the clone is not).
2. No absolute path into a home or workspace folder (`MACHINE_FOLDERS` at the top of the file
   system): those name one machine. Dockerfiles are exempt, since their absolute paths are
   inside the image (the build stage's uv cache lives in root's home there).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CLIMBING = re.compile(r"(?<![\w.])(?:\.\./)+[^\s'\"`()\[\]<>,;|*]*")
MACHINE_FOLDERS = ("home", "root", "work", "Users", "mnt")
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:" + "|".join(MACHINE_FOLDERS) + r")/[^\s'\"`()<>,;]*")


def tracked_text_files() -> dict[Path, str]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    files: dict[Path, str] = {}
    for name in filter(None, listed.decode().split("\0")):
        path = ROOT / name
        if not path.is_file():  # deleted in the work tree, not yet committed
            continue
        try:
            files[path] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # images, fonts
            continue
    return files


FILES = tracked_text_files()


def escapes(path: Path, reference: str) -> bool:
    resolved = Path(os.path.normpath(path.parent / reference))
    return not resolved.is_relative_to(ROOT)


def outside_references(path: Path, text: str) -> list[str]:
    found = [ref for ref in CLIMBING.findall(text) if escapes(path, ref)]
    if path.name != "Dockerfile":
        found += MACHINE_PATH.findall(text)
    return found


def test_the_files_are_listed() -> None:
    assert ROOT / "README.md" in FILES and ROOT / "Makefile" in FILES


def test_no_tracked_file_refers_to_a_path_outside_the_repository() -> None:
    problems = {
        str(path.relative_to(ROOT)): refs
        for path, text in FILES.items()
        if (refs := outside_references(path, text))
    }
    assert problems == {}


@pytest.mark.parametrize(
    ("where", "text", "outside"),
    [
        ("README.md", "The design: `../shared/DESIGN.md`.", True),
        ("docker-compose.yml", "additional_contexts:\n  shared: ../shared\n", True),
        ("tools/line-emulator/README.md", "see " + "../" * 3 + "x/spec.yml", True),
        ("deploy/k8s/overlays/dev/kustomization.yaml", "resources:\n  - ../../base\n", False),
        ("tools/simulator/README.md", "![](../../docs/screenshots/a.png)", False),
        ("tests/x.py", 'LINE_OPENAPI_DIR = "' + "/" + 'work/shared/line-openapi"', True),
        ("Makefile", "cd " + "/" + "root/project && make", True),
        ("deploy/Dockerfile", "RUN --mount=type=cache,target=/" + "root/.cache/uv", False),
        ("libs/web/README.md", "https://example.com/home/page and /var/lib/cityhall", False),
    ],
)
def test_the_rules(where: str, text: str, outside: bool) -> None:
    assert bool(outside_references(ROOT / where, text)) is outside
