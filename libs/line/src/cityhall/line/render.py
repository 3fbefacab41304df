"""The browser's renderer of LINE message objects, as the LINE app shows them: `render.js`
(`renderAccountMessage(message, ctx)`), `flex.js` and `messages.css` in `RENDERER_DIR`.

The resident simulator draws its chat with it and staff pages their previews (notify's
composer), so a message looks the same in both: mount `RENDERER_DIR` with `StaticFiles`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

RENDERER_DIR = Path(str(files("cityhall.line") / "static"))
