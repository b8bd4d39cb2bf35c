"""``python -m chalicelib.local [--demo] [--tick-seconds N]``: run Herald on 127.0.0.1 until Ctrl-C.

Ports: HERALD_PORT (API, default 8000), HERALD_MOTO_PORT (moto, default 5555) and
HERALD_SANDBOX_PORT (sandbox providers, default 5556). The scheduled functions (schedule_tick,
sweep) run every HERALD_TICK_SECONDS (default 5; deployed, every minute).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType

from chalicelib.local.stack import (
    DEFAULT_HTTP_PORT,
    DEFAULT_MOTO_PORT,
    DEFAULT_SANDBOX_PORT,
    DEFAULT_TICK_S,
    EmbeddedStack,
)
from chalicelib.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.local", description=__doc__)
    parser.add_argument("--demo", action="store_true", help="load ~50 demo accounts through the API")
    parser.add_argument("--port", type=int, default=int(os.environ.get("HERALD_PORT", DEFAULT_HTTP_PORT)))
    parser.add_argument(
        "--moto-port", type=int, default=int(os.environ.get("HERALD_MOTO_PORT", DEFAULT_MOTO_PORT))
    )
    parser.add_argument(
        "--sandbox-port",
        type=int,
        default=int(os.environ.get("HERALD_SANDBOX_PORT", DEFAULT_SANDBOX_PORT)),
        help="port of the sandbox providers (SendGrid, Mailgun, Twilio, SES/SMS events)",
    )
    parser.add_argument(
        "--tick-seconds",
        type=float,
        default=float(os.environ.get("HERALD_TICK_SECONDS", DEFAULT_TICK_S)),
        help="how often the scheduled functions run (scheduled communications start on a tick)",
    )
    args = parser.parse_args(argv)
    if args.tick_seconds <= 0:
        parser.error("--tick-seconds must be positive")
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    stack = EmbeddedStack(
        args.moto_port, args.port, sandbox_port=args.sandbox_port, tick_interval_s=args.tick_seconds
    )
    with stack:
        if args.demo:
            from chalicelib.local.demo import load_demo_accounts
            from chalicelib.local.tokens import mint_for_name

            stored = load_demo_accounts(stack.api_url, mint_for_name("Demo Loader"))
            print(f"Loaded {stored} demo accounts.", flush=True)
        settings = get_settings()
        print(
            f"Herald is running at {stack.api_url}\n"
            f"  moto (AWS stand-in): {stack.moto_url}\n"
            f"  sandbox providers: {stack.sandbox_url} (email: {settings.email_provider}, "
            f"sms: {settings.sms_provider}; what they took: {stack.sandbox_url}/sandbox/received)\n"
            f"  test addresses: bounce@…, complaint@…, drop@…, +1…0000 (no such number); see README\n"
            f"  schedule handler: every {args.tick_seconds:g} s\n"
            f'  token: make token NAME="Ada Lovelace"  (or python -m chalicelib.local.tokens --name ...)\n'
            f"  Ctrl-C to stop.",
            flush=True,
        )
        stopping.wait()
        print("Stopping Herald...", flush=True)
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
