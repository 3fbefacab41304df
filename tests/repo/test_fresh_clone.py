"""A fresh clone, with nothing beside it, serves `make run`: what a newcomer does first.

HEAD is cloned into an empty temporary folder and `make run` starts there on a free port (its
first run installs the clone's own virtualenv with uv, hence the long start-up bound). A signed
follow reaches `/callback`, the welcome arrives at the clone's LINE emulator, and Ctrl-C stops
everything. The banner names the development profile and never the database's password. Only committed files take part: that is what a clone gets.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cityhall.events.testing import wait_for
from cityhall.gateway import testing as webhooks

from ..browser.embedded import embedded_run
from ..integration.harness import LineClient

ROOT = Path(__file__).resolve().parents[2]
FIRST_START = 300.0  # seconds; uv installs the clone's environment (from its cache, usually)


def newcomer_env() -> dict[str, str]:
    """This shell's environment without this checkout's virtualenv: the clone makes its own."""
    venv_bin = str(Path(sys.prefix) / "bin")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return env


@pytest.mark.timeout(FIRST_START + 240)
def test_a_fresh_clone_serves_make_run_and_welcomes_a_new_friend(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    # Nothing beside the clone: a file it still needed from outside would be missing here.
    assert list(tmp_path.iterdir()) == [clone]
    assert not [p for p in clone.parents if (p / "shared").exists()]
    log = tmp_path_factory.mktemp("fresh-clone-log") / "make-run.log"

    with embedded_run(
        clone / ".cityhall",
        log,
        command=["make", "run"],
        cwd=clone,
        env=newcomer_env(),
        startup_timeout=FIRST_START,
    ) as url:
        secret = (clone / ".cityhall" / "line-channel-secret").read_text().strip()
        asyncio.run(follow_and_see_the_welcome(LineClient(url, f"{url}/line-api", secret)))

    output = log.read_text(errors="replace")
    assert "Pocket City Hall is running" in output
    assert "Profile            : development" in output
    assert "Traceback" not in output, output[-4000:]
    # The embedded database asks for a password that only the run's user can read, and the
    # banner and logs never show it.
    data = clone / ".cityhall"
    password = (data / "postgres.password").read_text().strip()
    assert password and password not in output
    assert stat.S_IMODE((data / "postgres.password").stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) & 0o067 == 0  # 0700 (0710 for the server's group as root)
    shutil.rmtree(clone)  # its virtualenv is large; a failure keeps it for a look


async def follow_and_see_the_welcome(line: LineClient) -> None:
    try:
        user = webhooks.user_id()
        await line.add_resident(user)
        follow = await line.issue_reply_token(webhooks.follow(user))
        response = await line.post_webhook(follow)
        assert response.status_code == 200, response.text

        async def welcomed() -> bool:
            return any("友だち追加" in m["message"].get("text", "") for m in await line.messages(user))

        await wait_for(welcomed, timeout=60, interval=0.2, message=f"the welcome for {user}")
    finally:
        await line.close()
