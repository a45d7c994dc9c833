"""Personal identifiers: resident ID numbers (身份证号, GB 11643-1999) and phone numbers.

ID numbers are validated (18 characters, a real region and date of birth, the ISO 7064
MOD 11-2 check character), stored encrypted (AES-GCM), found again through a keyed hash
(HMAC-SHA256, so equal numbers match without decrypting anything) and shown masked.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from operator import mul

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
# Province-level codes of GB/T 2260 (mainland, plus 71/81/82 for Taiwan, Hong Kong, Macao
# and 83 for their residence permits).
PROVINCE_CODES = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
        "83",
    ]
)
_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")
_PHONE_SHAPE = re.compile(r"^1[3-9]\d{9}$")


def id_check_char(first17: str) -> str:
    if len(first17) != len(_WEIGHTS):
        raise ValueError("id_check_char() takes the first 17 characters")
    return _CHECK_CHARS[sum(map(mul, map(int, first17), _WEIGHTS)) % 11]


@dataclass(frozen=True)
class IdNumber:
    """A validated ID number and what it tells: date of birth and gender."""

    value: str
    birth_date: datetime.date
    gender: str  # "M" or "F": the 17th digit is odd for men

    @property
    def masked(self) -> str:
        return mask_id_number(self.value)


def parse_id_number(raw: str, *, today: datetime.date | None = None) -> IdNumber:
    """Validate an ID number; raise ValidationError with a reason a cadre understands."""
    value = (raw or "").strip().upper().replace(" ", "")
    if not value:
        raise ValidationError(_("The ID number is missing."), code="id_missing")
    if len(value) != 18:
        raise ValidationError(
            _("The ID number must have 18 characters, this one has %(n)d.") % {"n": len(value)},
            code="id_length",
        )
    if not _ID_SHAPE.match(value):
        raise ValidationError(
            _("The ID number may contain only digits, and X as its last character."),
            code="id_characters",
        )
    if value[:2] not in PROVINCE_CODES:
        raise ValidationError(
            _("The ID number starts with an unknown region code %(code)s.") % {"code": value[:2]},
            code="id_region",
        )
    try:
        birth = datetime.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise ValidationError(
            _("The ID number holds an impossible date of birth %(date)s.") % {"date": value[6:14]},
            code="id_birth_date",
        ) from None
    today = today or datetime.date.today()
    if birth.year < 1900 or birth > today:
        raise ValidationError(
            _("The ID number holds an impossible date of birth %(date)s.") % {"date": value[6:14]},
            code="id_birth_date",
        )
    expected = id_check_char(value[:17])
    if value[17] != expected:
        raise ValidationError(
            _("The check digit of the ID number is wrong (the last character should be %(c)s).")
            % {"c": expected},
            code="id_check_digit",
        )
    gender = "M" if int(value[16]) % 2 == 1 else "F"
    return IdNumber(value=value, birth_date=birth, gender=gender)


def mask_id_number(value: str) -> str:
    """5101**********123X: region prefix and last four only."""
    if len(value) < 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def normalise_phone(raw: str) -> str:
    """A mainland mobile number, or "" when none was given; ValidationError when malformed."""
    value = re.sub(r"[\s\-]", "", raw or "")
    if value.startswith("+86"):
        value = value[3:]
    if not value:
        return ""
    if not _PHONE_SHAPE.match(value):
        raise ValidationError(
            _("The mobile phone number must be 11 digits starting with 1."), code="phone"
        )
    return value


def mask_phone(value: str) -> str:
    """138****5678."""
    if not value:
        return ""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


@lru_cache(maxsize=4)
def _keys(secret: str) -> tuple[AESGCM, bytes]:
    # Two independent keys from one configured secret: one to encrypt, one to hash.
    root = hashlib.sha256(secret.encode()).digest()
    enc = hmac.new(root, b"gonghui/id-number/encrypt", hashlib.sha256).digest()
    mac = hmac.new(root, b"gonghui/id-number/lookup", hashlib.sha256).digest()
    return AESGCM(enc), mac


NONCE_SIZE = 12


def encrypt_id_number(value: str, *, nonce: bytes | None = None) -> str:
    """`nonce`: 12 fresh random bytes (bulk loads draw many at once, see NoncePool)."""
    aes, _mac = _keys(settings.GONGHUI_DATA_KEY)
    if nonce is None:
        nonce = os.urandom(NONCE_SIZE)
    elif len(nonce) != NONCE_SIZE:
        raise ValueError("an AES-GCM nonce has 12 bytes")
    return base64.b64encode(nonce + aes.encrypt(nonce, value.encode(), None)).decode()


class NoncePool:
    """Random nonces for encrypt_id_number, read from the OS in blocks: one system call
    per thousand rows of an import instead of one per row. Never hands out a nonce twice."""

    def __init__(self, block: int = 1024):
        self.block = block
        self._buffer = b""
        self._offset = 0

    def take(self) -> bytes:
        if self._offset >= len(self._buffer):
            self._buffer = os.urandom(NONCE_SIZE * self.block)
            self._offset = 0
        start = self._offset
        self._offset += NONCE_SIZE
        return self._buffer[start : start + NONCE_SIZE]


def decrypt_id_number(cipher: str) -> str:
    aes, _mac = _keys(settings.GONGHUI_DATA_KEY)
    raw = base64.b64decode(cipher)
    return aes.decrypt(raw[:12], raw[12:], None).decode()


# The lookup hash keeps the first 128 bits of the HMAC (32 hex digits): far more than
# enough to tell 17 million members apart (a clash of two numbers is ~2^-64 likely), and
# its unique index is ~40% smaller than with all 256 — the index every member's insert
# touches at a random place, so an import's page writes and WAL shrink with it.
ID_HASH_LENGTH = 32


def _id_number_mac(value: str) -> bytes:
    _aes, mac = _keys(settings.GONGHUI_DATA_KEY)
    return hmac.digest(mac, value.encode(), "sha256")


def id_number_hash(value: str) -> str:
    return _id_number_mac(value)[: ID_HASH_LENGTH // 2].hex()


def full_id_number_hash(value: str) -> str:
    """The hash as stored before it was shortened (for that migration's way back)."""
    return _id_number_mac(value).hex()


@dataclass(frozen=True)
class StoredIdNumber:
    cipher: str
    lookup_hash: str
    masked: str
    tail: str


def protect_id_number(value: str) -> StoredIdNumber:
    return StoredIdNumber(
        cipher=encrypt_id_number(value),
        lookup_hash=id_number_hash(value),
        masked=mask_id_number(value),
        tail=value[-4:],
    )
