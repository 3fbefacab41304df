"""Issue 3, done when: `cityhall run`, open the simulator, follow, the welcome arrives; tap
使い方 and the guide arrives. The whole embedded system runs as a subprocess (its own
Postgres in a temporary data directory, a free port), driven in real Chromium.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from cityhall.events.localpg import free_port

from .conftest import screenshot

STARTUP_TIMEOUT = 180.0
# Variables that would point the run at a real channel, another database or Kafka.
FOREIGN = (
    "DATABASE_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "LINE_CHANNEL_SECRET",
    "LINE_CHANNEL_ACCESS_TOKEN",
    "LINE_API_URL",
    "CITYHALL_PUBLIC_URL",
    "CITYHALL_SIMULATOR_CALLBACK_URL",
)


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"cityhall run exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"cityhall run not ready in {STARTUP_TIMEOUT}s:\n{log.read_text()[-4000:]}")


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[str]:
    """`cityhall run` on a free port; stopped with Ctrl-C (SIGINT) as a person would."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN}
    env |= {"CITYHALL_DATA_DIR": str(tmp_path / "data"), "CITYHALL_PORT": str(port)}
    log = tmp_path / "cityhall-run.log"
    cityhall = Path(sys.executable).with_name("cityhall")
    with log.open("wb") as out:
        process = subprocess.Popen([str(cityhall), "run"], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        stopped = True
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stopped = False
            process.kill()
            process.wait(timeout=10)
        stop_orphaned_postgres(tmp_path / "data" / "postgres")
        assert stopped, f"cityhall run did not stop within 60 s of Ctrl-C:\n{log.read_text()[-4000:]}"


def stop_orphaned_postgres(data_dir: Path) -> None:
    """A run that had to be killed leaves its Postgres (pg_ctl detached it) up: stop it by pid."""
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        # Only that server: a stale pid file may name a process that is something else now.
        if str(data_dir) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
            os.kill(pid, signal.SIGQUIT)


def test_follow_see_the_welcome_and_tap_the_guide(embedded: str, page: Page) -> None:
    chat = page.locator("#chat")
    page.goto(embedded)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.get_by_label("新しい住民の表示名").fill("山田 花子")
    page.get_by_role("button", name="作成").click()
    expect(page.locator("#resident-badge")).to_contain_text("山田 花子")
    user_id = page.evaluate("location.hash.slice(1)")

    page.locator("#follow-button").click()
    expect(chat.locator(".system-line")).to_have_text(["友だち追加しました"])
    expect(page.locator("#error-banner")).to_be_hidden()
    welcome = chat.locator(".msg.theirs").first
    expect(welcome).to_contain_text("友だち追加ありがとうございます。", timeout=30_000)
    quick = page.locator("#quick-replies")
    expect(quick.get_by_role("button", name="使い方")).to_be_visible()
    # The gateway installs the default rich menu at start; the page shows it from the emulator.
    expect(page.locator("#rich-menu-image")).to_be_visible()
    expect(page.locator("#rich-menu-areas").get_by_role("button")).to_have_count(6)
    chat.evaluate("c => { c.scrollTop = 0; }")  # the follow line and the start of the welcome
    screenshot(page, "simulator-welcome.png")

    quick.get_by_role("button", name="使い方").click()
    expect(chat.locator(".msg.own .bubble").last).to_have_text("使い方")
    expect(chat.locator(".msg.theirs").last).to_contain_text("使い方のご案内です。", timeout=30_000)
    expect(page.locator("#error-banner")).to_be_hidden()
    chat.locator(".msg.own").last.evaluate("row => row.scrollIntoView({block: 'start'})")
    screenshot(page, "simulator-guide.png")

    # Each arrived once at the emulator (the account replied with the simulator's reply tokens).
    delivered = httpx.get(f"{embedded}/line-api/_inspect/messages", params={"to": user_id}, timeout=10).json()
    texts = [m["message"].get("text", "") for m in delivered["messages"]]
    assert sum("友だち追加ありがとうございます" in t for t in texts) == 1
    assert sum("使い方のご案内です" in t for t in texts) == 1
    assert {m["endpoint"] for m in delivered["messages"]} == {"reply"}
