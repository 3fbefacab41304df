"""LINE's OpenAPI documents (`messaging-api.yml`, `webhook.yml`), shipped in this folder.

They are package data of cityhall-line, copied unchanged from upstream (see SOURCE here for
the repository, the commit and how to update them; LICENSE is upstream's Apache-2.0). This is
the one place that finds them: the emulator and the webhook test helpers (the gateway's and the
simulator's) read them through `read_document`.

Environment: `LINE_OPENAPI_DIR`, a folder holding the same file names, overrides the shipped
copies (to try another upstream version before copying it here).
"""

from __future__ import annotations

import os
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Final

MESSAGING_API: Final = "messaging-api.yml"
WEBHOOK: Final = "webhook.yml"
DOCUMENTS: Final = (MESSAGING_API, WEBHOOK)
OVERRIDE_ENV: Final = "LINE_OPENAPI_DIR"


class SpecNotFoundError(FileNotFoundError):
    pass


def document(name: str) -> Traversable:
    """Where the named document is read from: `$LINE_OPENAPI_DIR/<name>`, else the shipped copy."""
    if name not in DOCUMENTS:
        raise ValueError(f"{name!r} is not one of LINE's documents {DOCUMENTS}")
    override = os.environ.get(OVERRIDE_ENV, "").strip()
    if not override:
        return resources.files(__name__).joinpath(name)
    found = Path(override) / name
    if not found.is_file():
        raise SpecNotFoundError(f"{OVERRIDE_ENV}={override} has no {name}")
    return found


def read_document(name: str) -> str:
    """The named document's YAML text."""
    return document(name).read_text(encoding="utf-8")
