"""Webhook verification: providers' published vectors, keys made here, and every way to forge one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from chalicelib.adapters.email import mailgun, sendgrid
from chalicelib.adapters.sms import twilio
from chalicelib.adapters.sns_events import SnsMessageVerifier, confirm_subscription, string_to_sign
from chalicelib.domain.errors import BadRequest, Forbidden, Unauthorized

pytestmark = pytest.mark.unit

# -- SendGrid: the vector from SendGrid's own library tests ----------------------------------------

SG_PUBLIC_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+"
    "2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
SG_SIGNATURE = (
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
)
SG_TIMESTAMP = "1600112502"
SG_PAYLOAD = (
    json.dumps(
        [
            {
                "email": "hello@world.com",
                "event": "dropped",
                "reason": "Bounced Address",
                "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
                "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
                "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
                "timestamp": 1600112492,
            }
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    + "\r\n"
).encode()


def sg_headers(signature: str = SG_SIGNATURE, timestamp: str = SG_TIMESTAMP) -> dict[str, str]:
    return {sendgrid.SIGNATURE_HEADER: signature, sendgrid.TIMESTAMP_HEADER: timestamp}


def test_sendgrid_published_vector_verifies_and_maps():
    key = sendgrid.load_public_key(SG_PUBLIC_KEY)
    events = sendgrid.events_from_webhook(sg_headers(), SG_PAYLOAD, key)
    assert [(e.outcome, e.provider_message_id, e.recipient) for e in events] == [
        ("dropped", "LRzXl_NHStOGhQ4kofSm_A", "hello@world.com")
    ]
    assert events[0].error == "SendGrid dropped: Bounced Address"


def test_sendgrid_key_also_loads_as_pem():
    der = base64.b64decode(SG_PUBLIC_KEY)
    pem = serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = sendgrid.load_public_key(pem.decode())
    assert sendgrid.signature_is_valid(key, SG_PAYLOAD, SG_SIGNATURE, SG_TIMESTAMP)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (SG_PAYLOAD.replace(b"dropped", b"delivered"), sg_headers()),  # tampered body
        (SG_PAYLOAD, sg_headers(timestamp="1600112503")),  # another timestamp
        (
            SG_PAYLOAD,
            sg_headers(
                "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0="
            ),
        ),  # someone else's signature
        (SG_PAYLOAD, sg_headers("not base64!!")),
    ],
)
def test_sendgrid_forgeries_are_refused(body, headers):
    with pytest.raises(Forbidden):
        sendgrid.events_from_webhook(headers, body, sendgrid.load_public_key(SG_PUBLIC_KEY))


def test_sendgrid_unsigned_request_is_unauthorized():
    with pytest.raises(Unauthorized):
        sendgrid.events_from_webhook({}, SG_PAYLOAD, sendgrid.load_public_key(SG_PUBLIC_KEY))


def test_sendgrid_with_a_key_made_here_and_a_wrong_key():
    private = ec.generate_private_key(ec.SECP256R1())
    body = json.dumps([{"event": "delivered", "timestamp": 1, "sg_event_id": "x"}]).encode()
    signature = base64.b64encode(private.sign(b"42" + body, ec.ECDSA(hashes.SHA256()))).decode()
    own = private.public_key()
    assert len(sendgrid.events_from_webhook(sg_headers(signature, "42"), body, own)) == 1
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(Forbidden):
        sendgrid.events_from_webhook(sg_headers(signature, "42"), body, other)


def test_sendgrid_verified_but_malformed_body_is_a_bad_request():
    private = ec.generate_private_key(ec.SECP256R1())
    body = b'{"not": "an array"}'
    signature = base64.b64encode(private.sign(b"1" + body, ec.ECDSA(hashes.SHA256()))).decode()
    with pytest.raises(BadRequest):
        sendgrid.events_from_webhook(sg_headers(signature, "1"), body, private.public_key())


def test_a_non_p256_key_is_refused_as_configuration():
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    der = rsa_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ValueError, match="P-256"):
        sendgrid.load_public_key(base64.b64encode(der).decode())


# -- Twilio: the vector from Twilio's own library tests --------------------------------------------

TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
    ("Caller", "+14158675309"),
]


def test_twilio_published_vector():
    assert twilio.compute_signature("12345", TWILIO_URL, TWILIO_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert twilio.signature_is_valid("12345", TWILIO_URL, TWILIO_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not twilio.signature_is_valid("12346", TWILIO_URL, TWILIO_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


def _twilio_request(token: str, status: str = "delivered", tamper: bool = False):
    query = {"comm_id": "c-1", "message_id": "m-1"}
    form = [("MessageSid", "SM1"), ("MessageStatus", status), ("To", "+15145550000"), ("ErrorCode", "")]
    url = twilio.request_url("https://herald.example/api", query)
    signature = twilio.compute_signature(token, url, form)
    if tamper:
        form[1] = ("MessageStatus", "undelivered")
    body = "&".join(f"{k}={v}" for k, v in form).replace("+", "%2B").encode()
    return {twilio.SIGNATURE_HEADER: signature}, body, query


def test_twilio_callback_verifies_against_the_public_url():
    headers, body, query = _twilio_request("token")
    events = twilio.events_from_webhook(headers, body, query, "https://herald.example/api", "token")
    assert [(e.outcome, e.comm_id, e.message_id, e.recipient) for e in events] == [
        ("delivered", "c-1", "m-1", "+15145550000")
    ]


@pytest.mark.parametrize(
    ("token", "tamper", "public_url", "query"),
    [
        ("other-token", False, "https://herald.example/api", None),
        ("token", True, "https://herald.example/api", None),
        ("token", False, "https://elsewhere.example/api", None),
        ("token", False, "https://herald.example/api", {"comm_id": "c-2", "message_id": "m-1"}),
    ],
)
def test_twilio_forgeries_are_refused(token, tamper, public_url, query):
    headers, body, signed_query = _twilio_request("token", tamper=tamper)
    with pytest.raises(Forbidden):
        twilio.events_from_webhook(headers, body, query or signed_query, public_url, token)


def test_twilio_unsigned_is_unauthorized():
    _, body, query = _twilio_request("token")
    with pytest.raises(Unauthorized):
        twilio.events_from_webhook({}, body, query, "https://herald.example/api", "token")


# -- Mailgun: HMAC, age, replay --------------------------------------------------------------------


def _mailgun_body(key: str, timestamp: str, token: str = "tok-1", signature: str | None = None) -> bytes:
    signed = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    event_data = {
        "event": "failed",
        "severity": "permanent",
        "reason": "bounce",
        "id": "ev-1",
        "timestamp": float(timestamp),
        "recipient": "gone@example.com",
        "user-variables": {"herald_comm_id": "c-1", "herald_message_id": "m-1"},
        "delivery-status": {"code": 550, "description": "mailbox does not exist"},
    }
    payload = {"signature": {"timestamp": timestamp, "token": token, "signature": signature or signed}}
    return json.dumps({**payload, "event-data": event_data}).encode()


class Tokens:
    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, token: str, keep_until: datetime) -> bool:
        if token in self.used:
            return False
        self.used.add(token)
        return True


def test_mailgun_signed_webhook_maps_a_hard_bounce():
    now = time.time()
    events = mailgun.events_from_webhook(_mailgun_body("key", str(int(now))), "key", Tokens(), 900)
    assert [(e.outcome, e.permanent, e.error) for e in events] == [
        ("bounced", True, "Mailgun bounce (550): mailbox does not exist")
    ]


def test_mailgun_replayed_token_is_refused():
    tokens, body = Tokens(), _mailgun_body("key", str(int(time.time())))
    mailgun.events_from_webhook(body, "key", tokens, 900)
    with pytest.raises(Forbidden, match="already used"):
        mailgun.events_from_webhook(body, "key", tokens, 900)


@pytest.mark.parametrize(
    "body",
    [
        _mailgun_body("wrong-key", str(int(time.time()))),
        _mailgun_body("key", str(int(time.time())), signature="0" * 64),
        _mailgun_body("key", str(int(time.time()) - 3600)),  # stale
        _mailgun_body("key", str(int(time.time()) + 3600)),  # from the future
    ],
)
def test_mailgun_forged_or_stale_is_refused(body):
    tokens = Tokens()
    with pytest.raises(Forbidden):
        mailgun.events_from_webhook(body, "key", tokens, 900)


def test_mailgun_without_signature_is_unauthorized_and_garbage_is_a_bad_request():
    with pytest.raises(Unauthorized):
        mailgun.events_from_webhook(b'{"event-data": {}}', "key", Tokens(), 900)
    with pytest.raises(BadRequest):
        mailgun.events_from_webhook(b"not json", "key", Tokens(), 900)


# -- SNS: signatures v1 and v2, pinned certificate host, topic allow-list ---------------------------

REGION = "us-east-1"
TOPIC = f"arn:aws:sns:{REGION}:123456789012:herald-dev-events"
CERT_URL = f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-abc.pem"


@pytest.fixture(scope="module")
def signer():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def signed(key, envelope: dict, version: str = "2") -> dict:
    envelope = {
        **envelope,
        "SignatureVersion": version,
        "SigningCertURL": envelope.get("SigningCertURL", CERT_URL),
    }
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(string_to_sign(envelope), padding.PKCS1v15(), algorithm)
    return {**envelope, "Signature": base64.b64encode(signature).decode()}


def notification(message: str = '{"hello": 1}', **extra) -> dict:
    return {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Subject": "My First Message",
        "Message": message,
        "Timestamp": "2026-11-26T14:00:00.000Z",
        **extra,
    }


class Fetcher:
    def __init__(self, pem: bytes) -> None:
        self.pem = pem
        self.urls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        return self.pem


@pytest.mark.parametrize("version", ["1", "2"])
def test_sns_signatures_of_both_versions_verify_and_the_certificate_is_cached(signer, version):
    key, pem = signer
    fetch = Fetcher(pem)
    verifier = SnsMessageVerifier([TOPIC], fetch)
    verifier.verify(signed(key, notification(), version))
    verifier.verify(signed(key, notification(message="another"), version))
    assert fetch.urls == [CERT_URL]


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
        "http://sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com/cert.pem",  # not the topic's region
        "https://evil.example/sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
    ],
)
def test_sns_certificate_from_anywhere_else_is_refused_without_fetching(signer, cert_url):
    key, pem = signer
    fetch = Fetcher(pem)
    with pytest.raises(Forbidden):
        SnsMessageVerifier([TOPIC], fetch).verify(signed(key, notification(SigningCertURL=cert_url)))
    assert fetch.urls == []


def test_sns_tampered_message_other_key_and_unlisted_topic_are_refused(signer):
    key, pem = signer
    verifier = SnsMessageVerifier([TOPIC], Fetcher(pem))
    tampered = {**signed(key, notification()), "Message": '{"hello": 2}'}
    with pytest.raises(Forbidden):
        verifier.verify(tampered)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Forbidden):
        verifier.verify(signed(stranger, notification()))
    other_topic = notification(TopicArn=TOPIC.replace("herald-dev", "someone-else"))
    with pytest.raises(Forbidden):
        verifier.verify(signed(key, other_topic))
    unsigned = notification(SigningCertURL=CERT_URL, SignatureVersion="2")
    with pytest.raises(Unauthorized):
        verifier.verify(unsigned)


def test_sns_subscription_confirmation_visits_only_sns(signer):
    key, pem = signer
    confirmation = signed(
        key,
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37",
            "TopicArn": TOPIC,
            "Message": "You have chosen to subscribe to the topic",
            "SubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37",
            "Timestamp": "2026-11-26T14:00:00.000Z",
        },
    )
    SnsMessageVerifier([TOPIC], Fetcher(pem)).verify(confirmation)
    visited: list[str] = []
    confirm_subscription(confirmation, visited.append)
    assert visited == [confirmation["SubscribeURL"]]
    with pytest.raises(Forbidden):
        confirm_subscription({**confirmation, "SubscribeURL": "https://evil.example/confirm"}, visited.append)
    assert len(visited) == 1
