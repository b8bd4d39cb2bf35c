"""SMS encoding and segments (GSM 03.38 vs UCS-2), and address validation."""

from __future__ import annotations

import pytest

from chalicelib.domain.addresses import email_problem, phone_problem
from chalicelib.domain.sms import GSM7_BASIC, GSM7_EXTENSION, sms_shape

pytestmark = pytest.mark.unit


def test_the_gsm_tables_are_the_real_ones():
    assert len(GSM7_BASIC) == 127  # 128 codes, one of them the escape to the extension table
    assert set("\f^{}\\[~]|€") == GSM7_EXTENSION
    assert {"@", "£", "¥", "è", "Δ", "Ñ", "§", "¿", "à", "\n"} <= GSM7_BASIC
    assert not {"ç", "á", "`", "ô"} & GSM7_BASIC  # common letters that force UCS-2


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "gsm7", 0, 0),
        ("a" * 160, "gsm7", 160, 1),
        ("a" * 161, "gsm7", 161, 2),
        ("a" * 306, "gsm7", 306, 2),
        ("a" * 307, "gsm7", 307, 3),
        ("€" * 80, "gsm7", 160, 1),  # extension characters cost two septets
        ("€" * 81, "gsm7", 162, 2),
        ("a" * 152 + "€" + "a" * 152, "gsm7", 306, 3),  # an escape pair is never split across parts
        ("Bonjour Émile, à bientôt", "ucs2", 24, 1),  # ô is not in GSM 03.38
        ("ç" * 70, "ucs2", 70, 1),
        ("ç" * 71, "ucs2", 71, 2),
        ("ç" * 134, "ucs2", 134, 2),
        ("ç" * 135, "ucs2", 135, 3),
        ("😀" * 35, "ucs2", 70, 1),  # a surrogate pair is two UTF-16 units
        ("a" * 66 + "😀", "ucs2", 68, 1),
        ("ç" * 66 + "😀" + "ç" * 66, "ucs2", 134, 3),  # and is never split across parts
    ],
)
def test_encoding_and_segments(text, encoding, units, segments):
    shape = sms_shape(text)
    assert (shape.encoding, shape.units, shape.segments) == (encoding, units, segments)


@pytest.mark.parametrize("number", ["+15145550100", "+33612345678", "+447911123456"])
def test_valid_e164_numbers(number):
    assert phone_problem(number) is None


@pytest.mark.parametrize(
    "number", ["5145550100", "+1 514 555 0100", "+1514555010", "+15140000000", "+999123456"]
)
def test_invalid_phone_numbers(number):
    assert phone_problem(number) is not None


@pytest.mark.parametrize("address", ["marie@example.com", "émile@exemple.fr", "a.b+tag@sub.example.org"])
def test_valid_emails(address):
    assert email_problem(address) is None


@pytest.mark.parametrize("address", ["marie", "a@b", "a@@example.com", "a b@example.com", "a@example..com"])
def test_invalid_emails(address):
    assert email_problem(address) is not None
