"""API keys: drawing them, recognising them, and the keyed hash they are stored under.

A key reads ``ss_<key_id>_<secret>``: ``key_id`` is 8 lowercase hex characters, safe to
show in lists and logs; ``secret`` is 32 random bytes, base64url without padding. Stores
keep only ``KeyHasher.hash(key)``, an HMAC-SHA256 keyed with the deployment's pepper, so a
copy of the store alone neither reveals a key nor lets anyone test guesses offline.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from scaleserve.errors import ConfigError

KEY_ID_BYTES = 4
SECRET_BYTES = 32
PEPPER_BYTES = 32
MIN_PEPPER_BYTES = 16

# 32 bytes are 256 bits; the 43rd base64 character carries the last 4 of them and 2 zero
# bits, so only these 16 characters can end a genuine secret.
_KEY = re.compile(r"ss_([0-9a-f]{8})_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] (\S+)")
_MAX_HEADER_CHARS = 256  # far above a key's 55 characters: anything longer is refused unread


def new_key() -> tuple[str, str]:
    """A fresh key: ``(key_id, plaintext)``. Show the plaintext once; store only its hash."""
    key_id = secrets.token_hex(KEY_ID_BYTES)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=").decode()
    return key_id, f"ss_{key_id}_{secret}"


def looks_like_key(text: str) -> bool:
    """Whether ``text`` has exactly the shape of a key (nothing before, after or inside)."""
    return _KEY.fullmatch(text) is not None


def key_id_of(plaintext: str) -> str | None:
    """The id inside a well-formed key, ``None`` for anything else."""
    match = _KEY.fullmatch(plaintext)
    return match.group(1) if match else None


def bearer_key(authorization: str | None) -> str | None:
    """The key in an ``Authorization: Bearer <key>`` header value, or ``None`` when the
    header is missing or is anything but that scheme (any case), one space and a key."""
    if authorization is None or len(authorization) > _MAX_HEADER_CHARS:
        return None
    match = _BEARER.fullmatch(authorization)
    if match is None or not looks_like_key(match.group(1)):
        return None
    return match.group(1)


def new_pepper() -> bytes:
    """A fresh pepper for a new deployment."""
    return secrets.token_bytes(PEPPER_BYTES)


class KeyHasher:
    """Hashes keys with the deployment's pepper: the only form in which keys are stored
    and looked up."""

    def __init__(self, pepper: bytes) -> None:
        if len(pepper) < MIN_PEPPER_BYTES:
            raise ConfigError(f"the API key pepper must be at least {MIN_PEPPER_BYTES} bytes")
        self._pepper = pepper

    def hash(self, plaintext: str) -> str:
        """Hex HMAC-SHA256 of ``plaintext`` keyed with the pepper (64 characters)."""
        return hmac.new(self._pepper, plaintext.encode(), hashlib.sha256).hexdigest()


def matches(a: str, b: str) -> bool:
    """Compare two secrets (or their hashes) in time independent of where they differ."""
    return hmac.compare_digest(a.encode(), b.encode())
