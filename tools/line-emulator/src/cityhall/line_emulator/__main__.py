"""`python -m cityhall.line_emulator --host 127.0.0.1 --port 8090`: the emulator on its own."""

from __future__ import annotations

import argparse

import uvicorn

from cityhall.line_emulator.app import create_app
from cityhall.line_emulator.settings import EmulatorSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cityhall.line_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    app = create_app(EmulatorSettings.from_env())
    # Open /_inspect/stream readers would otherwise hold shutdown forever.
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=2)


if __name__ == "__main__":
    main()
