"""The simulated payment provider as the runtime sees it (imports only the runtime)."""

from __future__ import annotations

from cityhall.runtime.service import ServiceSpec

MOUNT = "/pay"

service = ServiceSpec(
    name="payments-sim",
    mount=MOUNT,
    build="cityhall.payment_simulator.app:build",
    migrations=("cityhall.payment_simulator",),
    order=60,
    development_only=True,  # its 支払う marks a request paid with no money
)
