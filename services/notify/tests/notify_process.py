"""notify alone in a process, for tests that SIGKILL it: the runtime's System on the EmbeddedBus.

python notify_process.py DSN LINE_API_URL ACCESS_TOKEN
"""

from __future__ import annotations

import asyncio
import sys

from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.notify.spec import service
from cityhall.runtime.service import Settings
from cityhall.runtime.system import System


async def main(dsn: str, line_api_url: str, token: str) -> None:
    settings = Settings(database_url=dsn, line_api_url=line_api_url, line_channel_access_token=token)
    system = System(settings, "embedded", EmbeddedBus(dsn, poll_interval=0.2), dsn)
    await system.start([service])
    system.run_background()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await system.stop()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
