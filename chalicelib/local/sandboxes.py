"""Sandbox providers for the local stack: SendGrid, Mailgun, Twilio, SES and End User Messaging on 127.0.0.1.

One HTTP server takes sends the way the real APIs do (same paths under a per-provider prefix, same
auth headers, same answers and status codes) and, a moment later, reports back exactly as the real
provider would:

- ``/sendgrid/v3/mail/send`` → a signed (ECDSA P-256) Event Webhook batch to ``/webhooks/sendgrid``;
- ``/mailgun/v3/<domain>/messages`` → signed (HMAC) JSON webhooks to ``/webhooks/mailgun``;
- ``/twilio/2010-04-01/Accounts/<sid>/Messages.json`` → signed status callbacks to the message's
  ``StatusCallback`` URL;
- any other path is AWS: it is passed through to moto, except that an SESv2 ``SendEmail`` with a
  configuration set gets SES events, and an End User Messaging ``SendTextMessage`` (which moto
  lacks) is answered here and gets SMS events, both put on moto's events delivery stream, which
  writes them to the events bucket, whose notifications feed the event files queue — the path AWS
  itself takes.

What happens to a message depends on its address (see README, "Test addresses"):

==========================  ============================================================
email local part starts     fate
==========================  ============================================================
``bounce``                  hard bounce (the address is then suppressed)
``softbounce``              soft bounce / blocked
``complaint``               delivered, then a spam complaint (suppressed)
``drop``                    dropped by the provider
``delay``                   deferred first, then delivered
``reject``                  refused at send (400): SEND_FAILED
``throttle``                429 at send: throttled, retried, then SEND_FAILED
``outage``                  500 at send: SEND_FAILED
anything else               delivered
==========================  ============================================================

==============  ====================================================
phone ends in   fate
==============  ====================================================
``0000``        undelivered: the number does not exist (suppressed)
``0001``        undelivered: carrier could not reach the handset
``9400``        refused at send (400, invalid 'To')
``9429``        429 at send
``9500``        500 at send
anything else   delivered
==============  ====================================================

``GET /sandbox/received`` lists every message each provider took, ``GET /sandbox/webhooks`` every
report posted back (with Herald's answer). Only loopback addresses are ever called.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from chalicelib.local import MOTO_ACCOUNT_ID

log = logging.getLogger("herald.local.sandboxes")

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def email_fate(address: str) -> str:
    local = address.split("@", 1)[0].lower()
    for prefix in ("softbounce", "bounce", "complaint", "drop", "delay", "reject", "throttle", "outage"):
        if local.startswith(prefix):
            return prefix
    return "delivered"


def sms_fate(number: str) -> str:
    for suffix, fate in (
        ("0000", "invalid"),
        ("0001", "unreachable"),
        ("9400", "reject"),
        ("9429", "throttle"),
        ("9500", "outage"),
    ):
        if number.endswith(suffix):
            return fate
    return "delivered"


def _iso_ms(moment: float) -> str:
    return (
        datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{int(moment * 1000) % 1000:03d}Z"
    )


class Reporter:
    """Posts reports after a delay, from one background thread, to loopback addresses only."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._lock = threading.Condition()
        self._counter = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="sandbox-reporter", daemon=True)
        self._thread.start()

    def later(self, delay_s: float, action: Callable[[], None]) -> None:
        with self._lock:
            self._counter += 1
            heapq.heappush(self._heap, (time.monotonic() + delay_s, self._counter, action))
            self._lock.notify()

    def pending(self) -> int:
        with self._lock:
            return len(self._heap)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify()
        self._thread.join(5)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._lock.wait(timeout)
                if self._stopped:
                    return
                _, _, action = heapq.heappop(self._heap)
            try:
                action()
            except Exception:
                log.exception("sandbox report failed")


class Sandboxes:
    """The sandbox server. ``api_url`` is Herald's API, where webhooks go; ``moto_url`` is moto."""

    def __init__(
        self,
        api_url: str,
        moto_url: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        report_delay_s: float = 0.5,
        region: str = "us-east-1",
        events_stream: str = "",
    ) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self.api_url = api_url.rstrip("/")
        self.moto_url = moto_url.rstrip("/")
        self.report_delay_s = report_delay_s
        self.region = region
        self.events_stream = events_stream
        self.sendgrid_api_key = "SG.sandbox-" + secrets.token_urlsafe(16)
        self.sendgrid_signing_key = ec.generate_private_key(ec.SECP256R1())
        self.mailgun_api_key = "key-" + secrets.token_hex(16)
        self.mailgun_domain = "mg.herald.test"
        self.mailgun_signing_key = secrets.token_hex(16)
        self.twilio_account_sid = "AC" + secrets.token_hex(16)
        self.twilio_auth_token = secrets.token_hex(16)
        self._lock = threading.Lock()
        self.received: dict[str, list[dict[str, Any]]] = {
            k: [] for k in ("sendgrid", "mailgun", "twilio", "ses", "eum")
        }
        self.webhooks: list[dict[str, Any]] = []
        self._reporter = Reporter()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandboxes", daemon=True)
        self._firehose: Any = None

    # -- lifecycle and configuration --------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Sandboxes:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._reporter.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    @property
    def sendgrid_public_key(self) -> str:
        from cryptography.hazmat.primitives import serialization

        der = self.sendgrid_signing_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode("ascii")

    def environment(self) -> dict[str, str]:
        """What Herald needs to send through the sandboxes and verify their webhooks."""
        return {
            "HERALD_SENDGRID_BASE_URL": f"{self.url}/sendgrid",
            "HERALD_SENDGRID_API_KEY": self.sendgrid_api_key,
            "HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY": self.sendgrid_public_key,
            "HERALD_MAILGUN_BASE_URL": f"{self.url}/mailgun",
            "HERALD_MAILGUN_DOMAIN": self.mailgun_domain,
            "HERALD_MAILGUN_API_KEY": self.mailgun_api_key,
            "HERALD_MAILGUN_SIGNING_KEY": self.mailgun_signing_key,
            "HERALD_TWILIO_BASE_URL": f"{self.url}/twilio",
            "HERALD_TWILIO_ACCOUNT_SID": self.twilio_account_sid,
            "HERALD_TWILIO_AUTH_TOKEN": self.twilio_auth_token,
            "HERALD_TWILIO_FROM": "+15005550006",
            "AWS_ENDPOINT_URL_SESV2": self.url,
            "AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2": self.url,
        }

    def idle(self) -> bool:
        return self._reporter.pending() == 0

    def _remember(self, provider: str, record: dict[str, Any]) -> None:
        with self._lock:
            self.received[provider].append(record)

    # -- HTTP ----------------------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sandboxes = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                sandboxes._dispatch(self, "GET")

            def do_POST(self) -> None:
                sandboxes._dispatch(self, "POST")

            def do_PUT(self) -> None:
                sandboxes._dispatch(self, "PUT")

            def do_DELETE(self) -> None:
                sandboxes._dispatch(self, "DELETE")

        return Handler

    def _dispatch(self, request: BaseHTTPRequestHandler, method: str) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        path = urlsplit(request.path).path
        try:
            if method == "GET" and path == "/sandbox/received":
                with self._lock:
                    answer = _json(200, self.received)
            elif method == "GET" and path == "/sandbox/webhooks":
                with self._lock:
                    answer = _json(200, self.webhooks)
            elif path == "/sendgrid/v3/mail/send" and method == "POST":
                answer = self._sendgrid_send(request.headers, body)
            elif path.startswith("/mailgun/v3/") and path.endswith("/messages") and method == "POST":
                answer = self._mailgun_send(path, request.headers, body)
            elif path.startswith("/twilio/2010-04-01/Accounts/") and path.endswith("/Messages.json"):
                answer = self._twilio_send(path, request.headers, body)
            elif request.headers.get("X-Amz-Target") == "PinpointSMSVoiceV2.SendTextMessage":
                answer = self._eum_send(body)
            else:
                answer = self._to_moto(method, request.path, request.headers, body)
        except Exception:
            log.exception("sandbox failed on %s %s", method, path)
            answer = _json(500, {"message": "sandbox error"})
        status, headers, payload = answer
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    # -- SendGrid ---------------------------------------------------------------------------------

    def _sendgrid_send(self, headers: Any, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if headers.get("Authorization") != f"Bearer {self.sendgrid_api_key}":
            return _json(
                401,
                {
                    "errors": [
                        {
                            "field": None,
                            "message": "The provided authorization grant is invalid, expired, or revoked",
                            "help": None,
                        }
                    ]
                },
            )
        try:
            payload = json.loads(body)
            to = payload["personalizations"][0]["to"][0]["email"]
            subject = payload["subject"]
            content = {c["type"]: c["value"] for c in payload["content"]}
        except (ValueError, KeyError, IndexError, TypeError):
            return _json(
                400,
                {
                    "errors": [
                        {
                            "field": "personalizations",
                            "message": "The personalizations field is required and must have at least one "
                            "personalization.",
                            "help": None,
                        }
                    ]
                },
            )
        fate = email_fate(to)
        refused = _refusal(fate, "SendGrid")
        if refused:
            status, text = refused
            return _json(status, {"errors": [{"field": None, "message": text, "help": None}]})
        message_id = secrets.token_urlsafe(16)
        custom_args = payload.get("custom_args") or {}
        self._remember(
            "sendgrid",
            {
                "message_id": message_id,
                "to": to,
                "subject": subject,
                "content": content,
                "custom_args": custom_args,
                "headers": payload.get("headers") or {},
            },
        )
        self._reporter.later(
            self.report_delay_s, lambda: self._sendgrid_report(message_id, to, custom_args, fate)
        )
        return 202, {"X-Message-Id": message_id}, b""

    def _sendgrid_report(self, message_id: str, to: str, custom_args: dict[str, str], fate: str) -> None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        now = int(time.time())

        def event(name: str, offset: int = 0, **extra: Any) -> dict[str, Any]:
            return {
                "email": to,
                "timestamp": now + offset,
                "smtp-id": f"<{message_id}@sandbox.sendgrid.test>",
                "event": name,
                "sg_event_id": secrets.token_urlsafe(24),
                "sg_message_id": f"{message_id}.filterdrecv-sandbox-1",
                **custom_args,
                **extra,
            }

        events = [event("processed")]
        if fate in ("delivered", "complaint"):
            events.append(event("delivered", response="250 OK"))
        if fate == "complaint":
            events.append(event("spamreport", 1))
        if fate == "delay":
            events += [
                event("deferred", response="451 4.7.1 try again later", attempt="1"),
                event("delivered", 1, response="250 OK"),
            ]
        if fate == "bounce":
            events.append(
                event(
                    "bounce",
                    type="bounce",
                    status="5.1.1",
                    reason="550 5.1.1 The email account that you tried to reach does not exist",
                )
            )
        if fate == "softbounce":
            events.append(
                event(
                    "bounce",
                    type="blocked",
                    status="4.2.2",
                    reason="452 4.2.2 The recipient's mailbox is full",
                )
            )
        if fate == "drop":
            events.append(event("dropped", reason="Bounced Address", status="5.0.0"))
        body = (json.dumps(events) + "\r\n").encode()
        timestamp = str(int(time.time()))
        signature = self.sendgrid_signing_key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        headers = {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        }
        self._post("sendgrid", f"{self.api_url}/webhooks/sendgrid", body, headers)

    # -- Mailgun ----------------------------------------------------------------------------------

    def _mailgun_send(self, path: str, headers: Any, body: bytes) -> tuple[int, dict[str, str], bytes]:
        expected = "Basic " + base64.b64encode(f"api:{self.mailgun_api_key}".encode()).decode()
        if headers.get("Authorization") != expected:
            return 401, {"Content-Type": "text/plain"}, b"Forbidden"
        domain = path.removeprefix("/mailgun/v3/").removesuffix("/messages")
        if domain != self.mailgun_domain:
            return _json(404, {"message": f"Domain not found: {domain}"})
        form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        fields = dict(form)
        for required in ("from", "to", "subject"):
            if not fields.get(required):
                return _json(400, {"message": f"'{required}' parameter is missing"})
        if not fields.get("text") and not fields.get("html"):
            return _json(400, {"message": "Need at least one of 'text' or 'html' parameters specified"})
        to = fields["to"]
        fate = email_fate(to)
        refused = _refusal(fate, "Mailgun")
        if refused:
            status, text = refused
            return _json(status, {"message": text})
        message_id = f"{time.strftime('%Y%m%d%H%M%S')}.{secrets.token_hex(8)}@{self.mailgun_domain}"
        variables = {k[2:]: v for k, v in form if k.startswith("v:")}
        self._remember(
            "mailgun",
            {
                "message_id": message_id,
                "to": to,
                "subject": fields["subject"],
                "text": fields.get("text"),
                "html": fields.get("html"),
                "variables": variables,
                "headers": {k[2:]: v for k, v in form if k.startswith("h:")},
            },
        )
        self._reporter.later(
            self.report_delay_s, lambda: self._mailgun_report(message_id, to, variables, fate)
        )
        return _json(200, {"id": f"<{message_id}>", "message": "Queued. Thank you."})

    def _mailgun_report(self, message_id: str, to: str, variables: dict[str, str], fate: str) -> None:
        now = time.time()

        def event(
            name: str, offset: float = 0.0, status: dict[str, Any] | None = None, **extra: Any
        ) -> dict[str, Any]:
            if status is not None:
                extra["delivery-status"] = status
            return {
                "event": name,
                "id": secrets.token_urlsafe(16),
                "timestamp": now + offset,
                "recipient": to,
                "message": {"headers": {"message-id": message_id, "to": to}},
                "user-variables": variables,
                **extra,
            }

        events = []
        if fate in ("delivered", "complaint"):
            events.append(event("delivered", status={"code": 250, "message": "OK"}))
        if fate == "complaint":
            events.append(event("complained", 1))
        if fate == "delay":
            events += [
                event(
                    "failed",
                    severity="temporary",
                    reason="generic",
                    status={"code": 451, "message": "try again later"},
                ),
                event("delivered", 1, status={"code": 250, "message": "OK"}),
            ]
        if fate == "bounce":
            events.append(
                event(
                    "failed",
                    severity="permanent",
                    reason="bounce",
                    status={
                        "code": 550,
                        "message": "5.1.1 The email account that you tried to reach does not exist",
                        "description": "The email account that you tried to reach does not exist",
                    },
                )
            )
        if fate == "softbounce":
            events.append(
                event(
                    "failed",
                    severity="permanent",
                    reason="old",
                    status={
                        "code": 452,
                        "message": "4.2.2 mailbox full",
                        "description": "Too old: the mailbox stayed full",
                    },
                )
            )
        if fate == "drop":
            events.append(
                event(
                    "failed",
                    severity="permanent",
                    reason="suppress-bounce",
                    status={
                        "code": 605,
                        "description": "Not delivering to previously bounced address",
                    },
                )
            )
        for data in events:
            timestamp, token = str(int(time.time())), secrets.token_hex(25)
            signature = hmac.new(
                self.mailgun_signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
            ).hexdigest()
            payload = {
                "signature": {"timestamp": timestamp, "token": token, "signature": signature},
                "event-data": data,
            }
            self._post(
                "mailgun",
                f"{self.api_url}/webhooks/mailgun",
                json.dumps(payload).encode(),
                {"Content-Type": "application/json"},
            )

    # -- Twilio -----------------------------------------------------------------------------------

    def _twilio_send(self, path: str, headers: Any, body: bytes) -> tuple[int, dict[str, str], bytes]:
        sid = path.removeprefix("/twilio/2010-04-01/Accounts/").removesuffix("/Messages.json")
        expected = (
            "Basic "
            + base64.b64encode(f"{self.twilio_account_sid}:{self.twilio_auth_token}".encode()).decode()
        )
        if headers.get("Authorization") != expected or sid != self.twilio_account_sid:
            return _json(
                401,
                {
                    "code": 20003,
                    "message": "Authenticate",
                    "more_info": "https://www.twilio.com/docs/errors/20003",
                    "status": 401,
                },
            )
        fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        to = fields.get("To", "")
        if not to or not fields.get("Body") or not (fields.get("From") or fields.get("MessagingServiceSid")):
            return _json(
                400,
                {
                    "code": 21604,
                    "message": "A 'To' phone number, a 'From' and a 'Body' are required.",
                    "more_info": "https://www.twilio.com/docs/errors/21604",
                    "status": 400,
                },
            )
        fate = sms_fate(to)
        if fate == "reject":
            return _json(
                400,
                {
                    "code": 21211,
                    "message": f"The 'To' number {to} is not a valid phone number.",
                    "more_info": "https://www.twilio.com/docs/errors/21211",
                    "status": 400,
                },
            )
        if fate == "throttle":
            return _json(
                429,
                {
                    "code": 20429,
                    "message": "Too Many Requests",
                    "more_info": "https://www.twilio.com/docs/errors/20429",
                    "status": 429,
                },
            )
        if fate == "outage":
            return _json(
                500,
                {
                    "code": 20500,
                    "message": "Internal Server Error",
                    "more_info": "https://www.twilio.com/docs/errors/20500",
                    "status": 500,
                },
            )
        message_sid = "SM" + secrets.token_hex(16)
        callback = fields.get("StatusCallback")
        self._remember(
            "twilio",
            {
                "sid": message_sid,
                "to": to,
                "from": fields.get("From"),
                "body": fields["Body"],
                "status_callback": callback,
            },
        )
        if callback:
            self._reporter.later(
                self.report_delay_s, lambda: self._twilio_report(callback, message_sid, fields, fate)
            )
        return _json(
            201,
            {
                "sid": message_sid,
                "account_sid": sid,
                "to": to,
                "from": fields.get("From"),
                "body": fields["Body"],
                "status": "queued",
                "num_segments": "1",
                "error_code": None,
                "error_message": None,
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json",
            },
        )

    def _twilio_report(self, callback: str, message_sid: str, fields: dict[str, str], fate: str) -> None:
        final = {
            "delivered": ("delivered", ""),
            "invalid": ("undelivered", "30005"),
            "unreachable": ("undelivered", "30003"),
        }[fate]
        # Only the final status: Twilio also posts "sent", which Herald ignores anyway.
        status, code = final
        form = [
            ("AccountSid", self.twilio_account_sid),
            ("ApiVersion", "2010-04-01"),
            ("From", fields.get("From", "")),
            ("MessageSid", message_sid),
            ("MessageStatus", status),
            ("SmsSid", message_sid),
            ("SmsStatus", status),
            ("To", fields["To"]),
        ]
        if code:
            form.append(("ErrorCode", code))
        signed = callback + "".join(f"{k}{v}" for k, v in sorted(form))
        signature = base64.b64encode(
            hmac.new(self.twilio_auth_token.encode(), signed.encode(), hashlib.sha1).digest()
        ).decode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
        self._post("twilio", callback, urlencode(form).encode(), headers)

    # -- AWS: SES and End User Messaging events through moto's Firehose ---------------------------

    def _to_moto(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        is_ses_send = method == "POST" and urlsplit(path).path == "/v2/email/outbound-emails"
        request_json: dict[str, Any] = {}
        if is_ses_send:
            request_json = json.loads(body or b"{}")
            to = ((request_json.get("Destination") or {}).get("ToAddresses") or [""])[0]
            refused = _refusal(email_fate(to), "SES")
            if refused:
                status, text = refused
                code = {400: "MessageRejected", 429: "TooManyRequestsException", 500: "InternalFailure"}[
                    status
                ]
                return (
                    status,
                    {"Content-Type": "application/json", "x-amzn-ErrorType": code},
                    json.dumps({"message": text}).encode(),
                )
        forward = urllib.request.Request(f"{self.moto_url}{path}", data=body or None, method=method)
        for name, value in headers.items():
            if name.lower() not in ("host", "content-length", "connection"):
                forward.add_header(name, value)
        try:
            with urllib.request.urlopen(forward, timeout=60) as response:
                status, payload, out_headers = response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            status, payload, out_headers = error.code, error.read(), dict(error.headers)
        if is_ses_send and status == 200:
            self._ses_sent(request_json, json.loads(payload)["MessageId"])
        keep = {
            k: v
            for k, v in out_headers.items()
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date")
        }
        return status, keep, payload

    def _ses_sent(self, request: dict[str, Any], message_id: str) -> None:
        to = request["Destination"]["ToAddresses"][0]
        subject = request["Content"]["Simple"]["Subject"]["Data"]
        tags = {t["Name"]: t["Value"] for t in request.get("EmailTags") or []}
        configuration_set = request.get("ConfigurationSetName")
        self._remember(
            "ses",
            {
                "message_id": message_id,
                "to": to,
                "subject": subject,
                "tags": tags,
                "configuration_set": configuration_set,
                "headers": {h["Name"]: h["Value"] for h in request["Content"]["Simple"].get("Headers") or []},
            },
        )
        if configuration_set and self.events_stream:
            sent_at = time.time()
            self._reporter.later(
                self.report_delay_s,
                lambda: self._ses_report(request, message_id, sent_at, tags, configuration_set),
            )

    def _ses_report(
        self,
        request: dict[str, Any],
        message_id: str,
        sent_at: float,
        tags: dict[str, str],
        configuration_set: str,
    ) -> None:
        to = request["Destination"]["ToAddresses"][0]
        source = request.get("FromEmailAddress", "")
        mail = {
            "timestamp": _iso_ms(sent_at),
            "source": source,
            "sourceArn": f"arn:aws:ses:{self.region}:{MOTO_ACCOUNT_ID}:identity/{_address(source)}",
            "sendingAccountId": MOTO_ACCOUNT_ID,
            "messageId": message_id,
            "destination": [to],
            "headersTruncated": False,
            "headers": [
                {"name": "To", "value": to},
                {"name": "Subject", "value": request["Content"]["Simple"]["Subject"]["Data"]},
            ],
            "commonHeaders": {
                "from": [source],
                "to": [to],
                "messageId": message_id,
                "subject": request["Content"]["Simple"]["Subject"]["Data"],
            },
            "tags": {
                "ses:configuration-set": [configuration_set],
                "ses:operation": ["SendEmail"],
                **{k: [v] for k, v in tags.items()},
            },
        }
        now = time.time()
        fate = email_fate(to)
        delivery = {
            "timestamp": _iso_ms(now),
            "processingTimeMillis": int((now - sent_at) * 1000),
            "recipients": [to],
            "smtpResponse": "250 2.6.0 Message received",
            "reportingMTA": "a8-1.smtp-out.amazonses.com",
        }
        # What the configuration set's event destination matches (infra/template.json): no Send events.
        events: list[dict[str, Any]] = []
        if fate in ("delivered", "complaint"):
            events.append({"eventType": "Delivery", "mail": mail, "delivery": delivery})
        if fate == "complaint":
            events.append(
                {
                    "eventType": "Complaint",
                    "mail": mail,
                    "complaint": {
                        "complainedRecipients": [{"emailAddress": to}],
                        "timestamp": _iso_ms(now + 1),
                        "feedbackId": str(uuid.uuid4()),
                        "complaintFeedbackType": "abuse",
                    },
                }
            )
        if fate == "delay":
            events.append(
                {
                    "eventType": "DeliveryDelay",
                    "mail": mail,
                    "deliveryDelay": {
                        "timestamp": _iso_ms(now),
                        "delayType": "TransientCommunicationFailure",
                        "expirationTime": _iso_ms(now + 3600),
                        "delayedRecipients": [
                            {
                                "emailAddress": to,
                                "status": "4.4.1",
                                "diagnosticCode": "smtp; 421 4.4.1 try again later",
                            }
                        ],
                    },
                }
            )
            events.append(
                {
                    "eventType": "Delivery",
                    "mail": mail,
                    "delivery": {**delivery, "timestamp": _iso_ms(now + 1)},
                }
            )
        if fate in ("bounce", "softbounce"):
            hard = fate == "bounce"
            events.append(
                {
                    "eventType": "Bounce",
                    "mail": mail,
                    "bounce": {
                        "bounceType": "Permanent" if hard else "Transient",
                        "bounceSubType": "General" if hard else "MailboxFull",
                        "bouncedRecipients": [
                            {
                                "emailAddress": to,
                                "action": "failed",
                                "status": "5.1.1" if hard else "4.2.2",
                                "diagnosticCode": "smtp; 550 5.1.1 user unknown"
                                if hard
                                else "smtp; 452 4.2.2 mailbox full",
                            }
                        ],
                        "timestamp": _iso_ms(now),
                        "feedbackId": str(uuid.uuid4()),
                        "reportingMTA": "dsn; a8-1.smtp-out.amazonses.com",
                    },
                }
            )
        if fate == "drop":
            events = [{"eventType": "Reject", "mail": mail, "reject": {"reason": "Bad content"}}]
        for event in events:
            self._publish("ses", event)

    def _eum_send(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        request = json.loads(body or b"{}")
        to = str(request.get("DestinationPhoneNumber", ""))
        if not request.get("MessageBody") or not to:
            return _aws_json_error(
                400, "ValidationException", "DestinationPhoneNumber and MessageBody are required"
            )
        fate = sms_fate(to)
        if fate == "reject":
            return _aws_json_error(
                400, "ValidationException", f"{to} is not a valid destination phone number"
            )
        if fate == "throttle":
            return _aws_json_error(400, "ThrottlingException", "Rate exceeded")
        if fate == "outage":
            return _aws_json_error(500, "InternalServerException", "Internal server error")
        message_id = str(uuid.uuid4())
        self._remember(
            "eum",
            {
                "message_id": message_id,
                "to": to,
                "body": request["MessageBody"],
                "context": request.get("Context") or {},
                "configuration_set": request.get("ConfigurationSetName"),
            },
        )
        if request.get("ConfigurationSetName") and self.events_stream:
            requested_at = int(time.time() * 1000)
            self._reporter.later(
                self.report_delay_s, lambda: self._eum_report(request, message_id, requested_at, fate)
            )
        return (
            200,
            {"Content-Type": "application/x-amz-json-1.0"},
            json.dumps({"MessageId": message_id}).encode(),
        )

    def _eum_report(self, request: dict[str, Any], message_id: str, requested_at: int, fate: str) -> None:
        now = int(time.time() * 1000)
        final = {
            "delivered": ("TEXT_DELIVERED", "DELIVERED", "Message has been accepted by phone"),
            "invalid": ("TEXT_INVALID", "INVALID", "Invalid destination phone number"),
            "unreachable": (
                "TEXT_CARRIER_UNREACHABLE",
                "CARRIER_UNREACHABLE",
                "The carrier could not reach the phone",
            ),
        }[fate]
        for offset, (event_type, status, description), is_final in (
            (0, ("TEXT_PENDING", "PENDING", "Message is pending delivery"), False),
            (1, final, True),
        ):
            self._publish(
                "eum",
                {
                    "eventType": event_type,
                    "eventVersion": "1.0",
                    "eventTimestamp": now + offset,
                    "isFinal": is_final,
                    "originationPhoneNumber": request.get("OriginationIdentity") or "+12065550152",
                    "destinationPhoneNumber": request["DestinationPhoneNumber"],
                    "isoCountryCode": "CA" if request["DestinationPhoneNumber"].startswith("+1") else "ZZ",
                    "isInternationalSend": False,
                    "mcc": "302",
                    "mnc": "720",
                    "messageId": message_id,
                    "messageRequestTimestamp": requested_at,
                    "messageEncoding": "GSM",
                    "messageType": request.get("MessageType", "TRANSACTIONAL"),
                    "messageStatus": status,
                    "messageStatusDescription": description,
                    "context": request.get("Context") or {},
                    "totalMessageParts": 1,
                    "totalMessagePrice": 0.00581,
                    "totalCarrierFee": 0.0,
                },
            )

    def _publish(self, source: str, event: dict[str, Any]) -> None:
        if self._firehose is None:
            import boto3

            self._firehose = boto3.client(
                "firehose",
                endpoint_url=self.moto_url,
                region_name=self.region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        # As AWS does, one JSON record per event; moto writes each record as its own file.
        self._firehose.put_record(
            DeliveryStreamName=self.events_stream, Record={"Data": json.dumps(event).encode()}
        )
        with self._lock:
            self.webhooks.append({"provider": source, "to": "firehose", "event": event.get("eventType")})

    # -- posting reports ------------------------------------------------------------------------------

    def _post(self, provider: str, url: str, body: bytes, headers: dict[str, str]) -> None:
        host = urlsplit(url).hostname or ""
        if host not in LOOPBACK_HOSTS:
            log.warning("sandbox %s: not posting to %s (loopback only)", provider, url)
            return
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, answer = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, answer = error.code, error.read()
        except OSError as error:
            status, answer = 0, repr(error).encode()
        with self._lock:
            self.webhooks.append(
                {
                    "provider": provider,
                    "to": url,
                    "status": status,
                    "answer": answer.decode("utf-8", "replace"),
                }
            )
        if status != 200:
            log.warning("sandbox %s: webhook answered %s: %s", provider, status, answer[:300])


def _refusal(fate: str, provider: str) -> tuple[int, str] | None:
    return {
        "reject": (400, f"{provider} sandbox: the recipient address is refused"),
        "throttle": (429, "Too many requests"),
        "outage": (500, f"{provider} sandbox: internal error"),
    }.get(fate)


def _address(source: str) -> str:
    return source.rsplit("<", 1)[-1].rstrip(">")


def _json(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _aws_json_error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return (
        status,
        {"Content-Type": "application/x-amz-json-1.0"},
        json.dumps({"__type": code, "message": message}).encode(),
    )
