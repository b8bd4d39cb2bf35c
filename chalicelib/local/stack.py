"""The embedded stack: moto server + resources from infra/ + the Chalice app over HTTP + SQS pollers.

Everything listens on 127.0.0.1. The app code is unchanged: it builds plain boto3 clients, and
``AWS_ENDPOINT_URL`` (read natively by botocore) points them at moto.

    with EmbeddedStack() as stack:          # free ports
        requests.get(f"{stack.api_url}/health")

The stack lives in this process: moto's backends are process-global (an in-process
``moto.mock_aws()`` resets them) and the app module is imported once, so run one stack per
test session (a session-scoped fixture) and keep mock_aws tests out of that process.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import socket
import sys
import threading
import time
import types
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Self

import boto3

from chalicelib.local import MOTO_ACCOUNT_ID
from chalicelib.local.pollers import Consumer, QueuePoller, consumers_from_app
from chalicelib.local.resources import DUMMY_CREDENTIALS, PROJECT_DIR, create_resources
from chalicelib.local.ticker import ScheduleTicker, scheduled_functions_from_app
from chalicelib.settings import get_settings

log = logging.getLogger("herald.local")

DEFAULT_MOTO_PORT = 5555
DEFAULT_HTTP_PORT = 8000
DEFAULT_SANDBOX_PORT = 5556
LOCAL_REGION = "us-east-1"
CHALICE_STAGE = "dev"
# Locally everything moves faster than deployed: a crashed task is taken over within seconds,
# an UNKNOWN message waits two minutes for its events, the sweep runs every few seconds.
LOCAL_DEFAULTS = {
    "HERALD_EMAIL_RATE_PER_S": "500",
    "HERALD_SMS_RATE_PER_S": "500",
    "HERALD_SEND_LEASE_S": "20",
    "HERALD_RECONCILE_WINDOW_S": "120",
    "HERALD_WATCH_INTERVAL_S": "10",
    "HERALD_PLAN_STALL_S": "60",
    "HERALD_STATUS_CACHE_S": "2",
}
# The scheduled functions (schedule_tick, sweep) run every minute deployed, every few seconds here.
DEFAULT_TICK_S = 5.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for_port(host: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class EmbeddedStack:
    """Moto server, Herald's resources, the app served by Chalice's local server, and pollers."""

    def __init__(
        self,
        moto_port: int | None = None,
        http_port: int | None = None,
        *,
        host: str = "127.0.0.1",
        stage: str | None = None,
        project_dir: Path = PROJECT_DIR,
        visibility_timeout_s: int = 5,
        start_timeout_s: float = 30,
        sandbox_port: int | None = None,
        report_delay_s: float = 0.5,
        tick_interval_s: float | None = DEFAULT_TICK_S,
        external_moto: bool = False,
    ) -> None:
        """With `external_moto`, a moto server already listens on `moto_port` (another process)."""
        self.host = host
        self.external_moto = external_moto
        self.moto_port = moto_port or free_port(host)
        self.http_port = http_port or free_port(host)
        self.stage = stage
        self.project_dir = project_dir
        self.visibility_timeout_s = visibility_timeout_s
        self.start_timeout_s = start_timeout_s
        self.app_module: types.ModuleType | None = None
        self.pollers: list[QueuePoller] = []
        # None or 0: no ticker (call `ticker.tick()` by hand, or never).
        self.tick_interval_s = tick_interval_s
        self.ticker: ScheduleTicker | None = None
        self._moto: Any = None
        self._http: Any = None
        self._http_thread: threading.Thread | None = None
        self._stop_pollers = threading.Event()
        self._saved_env: dict[str, str | None] = {}
        self._sqs: Any = None
        self._started = False
        self.sandbox_port = sandbox_port or free_port(host)
        self.report_delay_s = report_delay_s
        self.sandboxes: Any = None

    @property
    def moto_url(self) -> str:
        return f"http://{self.host}:{self.moto_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://{self.host}:{self.sandbox_port}"

    def _stage(self) -> str:
        return self.stage or os.environ.get("HERALD_STAGE", "dev")

    @property
    def events_topic_arn(self) -> str:
        return f"arn:aws:sns:{LOCAL_REGION}:{MOTO_ACCOUNT_ID}:herald-{self._stage()}-events"

    @property
    def events_stream(self) -> str:
        return f"herald-{self._stage()}-events"

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._started:
            return self
        self._started = True
        try:
            self._start_moto()
            self._start_sandboxes()
            self._set_environment()
            resource_env = create_resources(self.moto_url, stage=get_settings().stage, region=LOCAL_REGION)
            self._apply_environment(dict(resource_env))
            self.app_module = self._import_app()
            self._start_http()
            self._start_pollers()
            self._start_ticker()
            self._wait_until_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop pollers, then the HTTP server, then moto; restore the environment. Idempotent."""
        self._stop_pollers.set()
        if self.ticker is not None:
            self.ticker.stop()
            self.ticker = None
        for poller in self.pollers:
            poller.stop()
        self.pollers = []
        if self._http is not None:
            self._http.shutdown()
            self._http.server.server_close()
            self._http = None
        if self._http_thread is not None:
            self._http_thread.join(5)
            self._http_thread = None
        if self.sandboxes is not None:
            self.sandboxes.stop()
            self.sandboxes = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        self._restore_environment()
        self._sqs = None
        self._started = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- helpers for tests and tools -------------------------------------------------------------

    def client(self, service: str) -> Any:
        """A boto3 client on this stack's moto server."""
        return boto3.client(
            service, endpoint_url=self.moto_url, region_name=LOCAL_REGION, **DUMMY_CREDENTIALS
        )

    def queue_depths(self) -> dict[str, int]:
        """Visible + in-flight + delayed messages per consumer queue."""
        if self._sqs is None:
            self._sqs = self.client("sqs")
        depths = {}
        for poller in self.pollers:
            attrs = self._sqs.get_queue_attributes(
                QueueUrl=poller.queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            depths[poller.consumer.queue_name] = sum(int(v) for v in attrs.values())
        return depths

    def wait_until_idle(self, timeout_s: float = 60, settle_s: float = 0.3) -> bool:
        """Wait until every consumer queue is empty and no poller is handling a batch.

        Messages waiting for a retry count as not idle. Returns False on timeout.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._idle():
                time.sleep(settle_s)
                if self._idle():
                    return True
            time.sleep(0.1)
        return False

    def _idle(self) -> bool:
        sandboxes_idle = self.sandboxes is None or self.sandboxes.idle()
        return sandboxes_idle and not self._busy() and not any(self.queue_depths().values())

    def _busy(self) -> bool:
        return any(p.busy for p in self.pollers) or (self.ticker is not None and self.ticker.busy)

    # -- steps -----------------------------------------------------------------------------------

    def _start_sandboxes(self) -> None:
        from chalicelib.local.sandboxes import Sandboxes

        self.sandboxes = Sandboxes(
            self.api_url,
            self.moto_url,
            host=self.host,
            port=self.sandbox_port,
            report_delay_s=self.report_delay_s,
            region=LOCAL_REGION,
            events_stream=self.events_stream,
        ).start()

    def _start_moto(self) -> None:
        if self.external_moto:
            _wait_for_port(self.host, self.moto_port, self.start_timeout_s)
            return
        from moto.server import ThreadedMotoServer

        from chalicelib.local import moto_dispatch, moto_dynamodb, moto_sqs

        moto_dispatch.install()
        moto_dynamodb.install()
        moto_sqs.install()
        # moto serves through werkzeug, which logs every AWS call at INFO; keep warnings only.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._moto = ThreadedMotoServer(ip_address=self.host, port=self.moto_port, verbose=False)
        self._moto.start()
        _wait_for_port(self.host, self.moto_port, self.start_timeout_s)

    def _set_environment(self) -> None:
        """Point every boto3 client at moto, before the app (and its settings) are imported."""
        env: dict[str, str | None] = {
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            "AWS_REGION": LOCAL_REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            # Nothing may route a client past moto: no profile, session token or per-service endpoint.
            "AWS_PROFILE": None,
            "AWS_SESSION_TOKEN": None,
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": None,
        }
        env.update({k: None for k in os.environ if k.startswith("AWS_ENDPOINT_URL_")})
        for key, default in LOCAL_DEFAULTS.items():
            if key not in os.environ:
                env[key] = default
        if self.stage is not None:
            env["HERALD_STAGE"] = self.stage
        # SES and End User Messaging calls go through the sandbox (it passes SES on to moto and
        # puts their events on the events delivery stream); the third-party providers are the sandbox.
        env.update(self.sandboxes.environment())
        stage = self._stage()
        local_defaults = {
            "HERALD_PUBLIC_URL": self.api_url,
            "HERALD_SMS_PROVIDER": "twilio",
            "HERALD_SES_CONFIGURATION_SET": f"herald-{stage}",
            "HERALD_EUM_CONFIGURATION_SET": f"herald-{stage}",
            "HERALD_EVENTS_TOPIC_ARNS": self.events_topic_arn,
            "HERALD_EARLY_EVENT_DELAY_S": "2",
        }
        env.update({k: v for k, v in local_defaults.items() if k not in os.environ})
        # Like `chalice local`: the stage's environment_variables from .chalice/config.json,
        # unless the caller already set them.
        for key, value in self._chalice_config().environment_variables.items():
            if key not in os.environ and key not in env:
                env[key] = value
        self._apply_environment(env)

    def _apply_environment(self, env: dict[str, str | None]) -> None:
        for key, value in env.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()

    def _restore_environment(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}
        get_settings.cache_clear()

    def _import_app(self) -> types.ModuleType:
        project = str(self.project_dir)
        if project not in sys.path:
            sys.path.insert(0, project)
        return importlib.import_module("app")

    def _chalice_config(self, function_name: str = "api_handler", chalice_app: Any = None) -> Any:
        from chalice.config import Config

        with (self.project_dir / ".chalice" / "config.json").open(encoding="utf-8") as f:
            config_from_disk = json.load(f)
        user_params: dict[str, Any] = {"project_dir": str(self.project_dir)}
        if chalice_app is not None:
            user_params["chalice_app"] = chalice_app
        return Config(
            chalice_stage=CHALICE_STAGE,
            function_name=function_name,
            user_provided_params=user_params,
            config_from_disk=config_from_disk,
            default_params={"api_gateway_stage": "api", "autogen_policy": True},
        )

    def _start_http(self) -> None:
        from chalice.local import create_local_server

        assert self.app_module is not None
        chalice_app = self.app_module.app
        config = self._chalice_config("api_handler", chalice_app)
        self._http = create_local_server(chalice_app, config, self.host, self.http_port)
        # serve_forever() prints its own banner; call the server underneath to keep output ours.
        self._http_thread = threading.Thread(
            target=self._http.server.serve_forever, name="herald-http", daemon=True
        )
        self._http_thread.start()

    def _function_config(self, name: str) -> tuple[int, int]:
        config = self._chalice_config(name)
        return int(config.lambda_timeout or 300), int(config.lambda_memory_size or 512)

    def _start_pollers(self) -> None:
        assert self.app_module is not None
        sqs = self.client("sqs")
        consumers: list[Consumer] = consumers_from_app(self.app_module, self._function_config)
        self._stop_pollers.clear()
        self.pollers = [
            QueuePoller(
                consumer,
                sqs,
                region=LOCAL_REGION,
                visibility_timeout_s=self.visibility_timeout_s,
                stop_event=self._stop_pollers,
            )
            for consumer in consumers
        ]
        for poller in self.pollers:
            poller.start()

    def _start_ticker(self) -> None:
        assert self.app_module is not None
        functions = scheduled_functions_from_app(self.app_module, self._function_config)
        self.ticker = ScheduleTicker(
            functions,
            self.tick_interval_s or DEFAULT_TICK_S,
            region=LOCAL_REGION,
            stop_event=self._stop_pollers,
        )
        if self.tick_interval_s:
            self.ticker.start()

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200 and json.loads(response.read()).get("status") == "ok":
                        return
                    last = f"HTTP {response.status}"
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}"
            except (OSError, ValueError) as e:
                last = repr(e)
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.api_url}/health did not answer 200 within {self.start_timeout_s}s ({last})"
        )
