"""The whole system for integration tests: the LINE emulator, the gateway and notify, each its own
process, on real Kafka (`kafka_bootstrap`) and real Postgres (`postgres_dsn`, one database per service).

One deployment serves a test module (starting processes is the slow part); tests keep apart by
using residents of their own. A failing test shows the tail of every process's log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator

import pytest

from .harness import Deployment, LineClient


@pytest.fixture(scope="module")
def deployment(
    postgres_dsn: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    deployment = Deployment(postgres_dsn, kafka_bootstrap, tmp_path_factory.mktemp("integration"))
    deployment.service("gateway")
    # Few delivery workers, so that a burst takes long enough for a SIGKILL to land inside it.
    deployment.service("notify", env={"NOTIFY_WORKERS": "4"})
    with deployment:
        yield deployment


@pytest.fixture
async def line(deployment: Deployment) -> AsyncIterator[LineClient]:
    client = LineClient(deployment.services["gateway"].url, deployment.emulator.url)
    try:
        yield client
    finally:
        await client.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        deployment = getattr(item, "funcargs", {}).get("deployment")
        if isinstance(deployment, Deployment):
            report.sections.append(("process logs", deployment.logs()))
    return report
