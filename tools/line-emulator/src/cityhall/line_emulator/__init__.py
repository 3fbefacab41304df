"""LINE Messaging API emulator: what the project's code and tests talk to instead of LINE."""

from cityhall.line_emulator.app import create_app
from cityhall.line_emulator.settings import EmulatorSettings

__all__ = ["EmulatorSettings", "create_app"]
