"""The web console in a real browser (Debian's headless Chromium driven by Playwright): chat as
a demo retailer, press a button, see the order."""

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from db.demo import load_demo
from db.engine import create_db_engine
from db.migrate import upgrade

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium not installed")


@pytest.fixture(scope="module")
def console_url(tmp_path_factory):
    data = tmp_path_factory.mktemp("console")
    engine = create_db_engine(f"sqlite:///{data / 'opensales.db'}")
    upgrade(engine)
    load_demo(engine, stores=12, days=14, progress=False)
    engine.dispose()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "OPENSALES_DATA_DIR": str(data),
        "OPENSALES_LLM_BACKEND": "off",
        "OPENSALES_BURST_WINDOW_S": "0.2",
    }
    env.pop("OPENSALES_DATABASE_URL", None)
    env.pop("OPENSALES_REDIS_URL", None)
    cli = os.path.join(os.path.dirname(sys.executable), "opensales")
    server = subprocess.Popen([cli, "serve", "--port", str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=10)


def test_order_through_the_console(console_url):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page()
        page.goto(f"{console_url}/console")
        page.locator(".person", has_text="retailer").first.click()
        chips = page.locator("#offered button")  # what a retailer can ask, from the registry
        expect(chips.first).to_contain_text("Order: 2 cs Parle-G 250g, 1 ctn Coke")
        expect(page.locator("#offered")).not_to_contain_text("Sales report")
        chips.first.click()
        expect(page.locator("#text")).to_have_value("2 cs Parle-G 250g, 1 ctn Coke")
        page.fill("#text", "2 cs parle g 100 aur 1 case surf excel")
        page.press("#text", "Enter")
        question = page.locator(".bubble.us").last
        expect(question).to_contain_text("Did you mean Surf Excel Easy Wash 500g or")
        page.get_by_role("button", name="Surf Excel Easy 1kg").click()
        expect(page.locator(".bubble.us").last).to_contain_text("confirmed", timeout=10000)
        expect(page.locator(".bubble.us").last).to_contain_text("2 cs Parle-G 100g")
        expect(page.locator("#order-list .order").first).to_contain_text("Surf Excel Easy Wash 1kg")
        page.screenshot(path=os.environ.get("CONSOLE_SCREENSHOT", "/tmp/console.png"))
        browser.close()
