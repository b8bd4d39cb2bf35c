"""SMS encoding and segments: GSM 03.38 (7-bit) when every character has a GSM code, else UCS-2.

GSM-7: 160 septets in one message, 153 per part once concatenated (the UDH takes 7); the
extension characters cost two septets (escape + code) and an escape pair is never split
across parts. UCS-2: 70 UTF-16 code units alone, 67 per part; a surrogate pair is never split.
"""

from __future__ import annotations

from dataclasses import dataclass

# GSM 03.38 default alphabet (basic character set), in code order 0x00-0x7F.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
) - {"\x1b"}
# The extension table, reached through the escape code: each costs two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE = {"gsm7": 160, "ucs2": 70}
PART = {"gsm7": 153, "ucs2": 67}


@dataclass(frozen=True)
class SmsShape:
    """How a text travels as SMS: encoding, length in encoding units, and parts billed."""

    encoding: str  # "gsm7" | "ucs2"
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int
    characters: int

    def to_api(self) -> dict[str, object]:
        return {
            "encoding": self.encoding,
            "units": self.units,
            "segments": self.segments,
            "characters": self.characters,
        }


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _unit_costs(text: str, encoding: str) -> list[int]:
    if encoding == "gsm7":
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def sms_shape(text: str) -> SmsShape:
    """Encoding and segment count of `text` as a carrier would bill it."""
    encoding = "gsm7" if is_gsm7(text) else "ucs2"
    costs = _unit_costs(text, encoding)
    units = sum(costs)
    if units <= SINGLE[encoding]:
        segments = 1 if units else 0
    else:
        segments, used = 1, 0
        for cost in costs:
            if used + cost > PART[encoding]:
                segments, used = segments + 1, 0
            used += cost
    return SmsShape(encoding=encoding, units=units, segments=segments, characters=len(text))
