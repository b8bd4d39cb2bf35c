"""The embedded stack in its own process, driven over HTTP only, as a user would."""

from __future__ import annotations

import os
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
            code = process.wait(timeout=30)
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
