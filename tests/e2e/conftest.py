"""The embedded stack in its own process, driven over HTTP only, as a user would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.local.stack import free_port
from chalicelib.local.tokens import mint_dev_token

PROJECT_DIR = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90


class RunningStack:
    def __init__(self, api_url: str, moto_url: str, log_path: Path, sandbox_url: str = "") -> None:
        self.api_url = api_url
        self.moto_url = moto_url
        self.sandbox_url = sandbox_url
        self.log_path = log_path
        self.session = requests.Session()
        token = mint_dev_token("e2e-admin", "Grace", "Hopper")
        self.session.headers["Authorization"] = f"Bearer {token}"

    def as_admin(self, sub: str, given_name: str, family_name: str) -> RunningStack:
        """The same stack, called with another admin's token."""
        other = RunningStack(self.api_url, self.moto_url, self.log_path, self.sandbox_url)
        other.session.headers["Authorization"] = f"Bearer {mint_dev_token(sub, given_name, family_name)}"
        return other

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.api_url}{path}", timeout=60, **kwargs)

    def received(self) -> dict[str, Any]:
        """What the providers took, in moto's shape: SES email (the sandbox passes it on to moto and
        records it on the way) and SMS (the Twilio sandbox, the local default). Cheaper than moto's
        data.json, which dumps every backend."""
        took = self.sandbox_received()
        emails = [{"destinations": {"ToAddresses": [m["to"]]}, "subject": m["subject"]} for m in took["ses"]]
        sms = [{"phone_number": m["to"], "message": m["body"]} for m in took["twilio"]]
        return {"emails": emails, "sms": sms}

    def sandbox_received(self) -> dict[str, list[dict[str, Any]]]:
        """What each sandbox provider took (SendGrid, Mailgun, Twilio, SES, End User Messaging)."""
        received: dict[str, list[dict[str, Any]]] = requests.get(
            f"{self.sandbox_url}/sandbox/received", timeout=60
        ).json()
        return received


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    yield from run_stack(tmp_path_factory, {})


def run_stack(tmp_path_factory: pytest.TempPathFactory, extra_env: dict[str, str]) -> Iterator[RunningStack]:
    """`python -m chalicelib.local` in a subprocess on free ports; stopped with Ctrl-C afterwards."""
    moto_port, http_port, sandbox_port = free_port(), free_port(), free_port()
    log_path = tmp_path_factory.mktemp("stack") / "stack.log"
    env = {
        **os.environ,
        "HERALD_MOTO_PORT": str(moto_port),
        "HERALD_PORT": str(http_port),
        "HERALD_SANDBOX_PORT": str(sandbox_port),
        # Schedules fire within a second instead of a minute.
        "HERALD_TICK_SECONDS": "1",
        **extra_env,
    }
    env.pop("AWS_ENDPOINT_URL", None)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.local"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = RunningStack(
        f"http://127.0.0.1:{http_port}",
        f"http://127.0.0.1:{moto_port}",
        log_path,
        f"http://127.0.0.1:{sandbox_port}",
    )
    try:
        _wait_healthy(running, process)
        yield running
    finally:
        process.send_signal(signal.SIGINT)
        try:
            # Workers finish the batch in hand first; a backlog of delivery reports on a loaded
            # machine can take a while.
            code = process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            raise AssertionError("the embedded stack did not stop on Ctrl-C") from None
    assert code == 0, log_path.read_text()[-3000:]


def _wait_healthy(running: RunningStack, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the embedded stack exited early:\n{running.log_path.read_text()[-3000:]}")
        try:
            if requests.get(f"{running.api_url}/health", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"the embedded stack did not start:\n{running.log_path.read_text()[-3000:]}")


# --- the admin web app in a real headless Chromium (Debian's, driven by Playwright) ------------------

CHROMIUM = Path(os.environ.get("HERALD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT_DIR = PROJECT_DIR / "docs" / "screenshots"
UI_TIMEOUT_MS = 20_000


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One browser per session; each test gets its own context (cookies, storage) from it."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps` (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    # Two cores shared with other work: give assertions the same patience as actions.
    expect.set_options(timeout=UI_TIMEOUT_MS)
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        # Playwright's own browser download is never used: Debian's chromium, with a fresh profile.
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_FLAGS,
            env={**os.environ, "HOME": str(profile)},
        )
        yield browser
        browser.close()


class Screen:
    """A browser tab on the stack's admin app, which fails the test on any script error."""

    def __init__(self, page: Any, api_url: str, shots: Path) -> None:
        self.page = page
        self.api_url = api_url
        self.shots = shots
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                message.type == "error"
                and not _expected_console_error(message.text)
                and self.errors.append(f"console: {message.text}")
            ),
        )

    def open(self, hash_path: str = "") -> None:
        self.page.goto(f"{self.api_url}/ui/index.html{hash_path}")

    def sign_in(self, name: str = "Ada Lovelace", role: str = "admin") -> None:
        self.page.goto(f"{self.api_url}/")
        self.page.get_by_label("Your name").fill(name)
        self.page.get_by_label("Access").select_option(role)
        self.page.get_by_role("button", name="Sign in").click()
        # Signing in is asynchronous (the token is minted by the server); navigating before it is
        # stored would land on the sign-in form again.
        from playwright.sync_api import expect

        signed_in = re.compile("^(Sign out|Sign in as someone else)$")
        # The no-permission page shows both buttons.
        expect(self.page.get_by_role("button", name=signed_in).first).to_be_visible()

    def shoot(self, name: str, full_page: bool = True) -> None:
        """A screenshot: into docs/screenshots/ with HERALD_SCREENSHOTS=1 (make screenshots), else tmp."""
        # The top bar is sticky: from the top, a full-page shot shows it once; toasts would cover content.
        self.page.evaluate(
            "() => { window.scrollTo(0, 0); document.querySelector('.toasts')?.replaceChildren(); }"
        )
        viewport = self.page.viewport_size
        if full_page and viewport:
            # Chromium leaves sandboxed frames (the email bodies) blank in its own full-page capture,
            # so grow the window to the page instead.
            height = self.page.evaluate("() => document.documentElement.scrollHeight")
            self.page.set_viewport_size(
                {"width": viewport["width"], "height": max(height, viewport["height"])}
            )
        self.page.wait_for_timeout(300)  # let layout and frames settle
        self.page.screenshot(path=str(self.shots / f"{name}.png"))
        if viewport:
            self.page.set_viewport_size(viewport)


def _expected_console_error(text: str) -> bool:
    # The browser logs every 4xx it receives; the tests provoke some on purpose (403 page, bad CSV).
    return "Failed to load resource" in text


@pytest.fixture
def screen(chromium: Any, stack: RunningStack, tmp_path: Path) -> Iterator[Screen]:
    shots = SCREENSHOT_DIR if os.environ.get("HERALD_SCREENSHOTS") == "1" else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-US", accept_downloads=True
    )
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    current = Screen(page, stack.api_url, shots)
    try:
        yield current
    finally:
        context.close()
    assert not current.errors, current.errors


@pytest.fixture(scope="session")
def api_routes(stack: RunningStack) -> set[str]:
    """The routes this server documents, as "METHOD /path/{}" (parameter names don't matter)."""
    document = requests.get(f"{stack.api_url}/openapi.json", timeout=30).json()
    return {
        f"{method.upper()} {_route_shape(path)}"
        for path, operations in document.get("paths", {}).items()
        for method in operations
    }


def _route_shape(path: str) -> str:
    return "/".join("{}" if part.startswith("{") else part for part in path.split("/"))


def require_routes(api_routes: set[str], *routes: str) -> None:
    """Skip a `needs_api` test until every route it drives exists (they arrive from other branches)."""
    missing = [route for route in routes if _route_shape(route) not in {_route_shape(r) for r in api_routes}]
    if missing:
        pytest.skip(f"the server does not offer {', '.join(missing)} yet")
