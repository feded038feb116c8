"""Pseudonyms, field encryption with key rotation, and keyed hashes.

A channel identity (a Telegram chat id, a WhatsApp number) never reaches the database: it becomes
``HMAC-SHA256(pseudonym_key, "channel:id")`` at the edge. Free text and reply addresses are stored
encrypted with AES-256-GCM (``cryptography``'s AEAD), under a key derived from each data key; the
first data key encrypts, every listed key decrypts (rotation). Versions before 2 December 2026
stored Fernet tokens (AES-128-CBC + HMAC-SHA256, six times slower per field, and a turn encrypts
four or five): those still decrypt, with the same keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MIN_SECRET_LENGTH = 32


class DecryptionError(Exception):
    """No configured data key opens this value (a key was removed too early, or it was altered)."""


def generate_secret() -> str:
    """A fresh random secret for ``LAPOR_SECRET_KEY`` or ``LAPOR_PSEUDONYM_KEY``."""
    return secrets.token_urlsafe(48)


def generate_data_key() -> str:
    """A fresh key for ``LAPOR_DATA_KEYS``."""
    return Fernet.generate_key().decode("ascii")


@dataclass(frozen=True)
class Keys:
    """The process's secrets, validated once."""

    secret_key: str = field(repr=False)
    pseudonym_key: str = field(repr=False)
    data_keys: list[str] = field(repr=False)

    def __post_init__(self) -> None:
        for name in ("secret_key", "pseudonym_key"):
            if len(getattr(self, name)) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"LAPOR_{name.upper()} must be at least {MIN_SECRET_LENGTH} characters"
                )
        if not self.data_keys:
            raise ValueError("LAPOR_DATA_KEYS needs at least one key")
        for position, key in enumerate(self.data_keys, start=1):
            try:
                Fernet(key)
            except ValueError:
                raise ValueError(
                    f"LAPOR_DATA_KEYS key {position} is not a valid key (see `lapor keys generate`)"
                ) from None
        if self.pseudonym_key == self.secret_key:
            raise ValueError("LAPOR_PSEUDONYM_KEY must differ from LAPOR_SECRET_KEY")


class Hasher:
    """Keyed one-way hashes of identities, delivery ids and receipts."""

    def __init__(self, pseudonym_key: str) -> None:
        self._key = pseudonym_key.encode("utf-8")
        # Separate sub-keys so that a value hashed for one purpose never matches another's.
        self._delivery_key = self._derive(b"lapor/delivery")
        self._receipt_key = self._derive(b"lapor/receipt")
        # Keyed once; each hash of a turn copies the keyed state (40 % less than keying anew).
        self._pseudonyms = hmac.new(self._key, digestmod=hashlib.sha256)
        self._deliveries = hmac.new(self._delivery_key, digestmod=hashlib.sha256)

    def _derive(self, purpose: bytes) -> bytes:
        return hmac.new(self._key, purpose, hashlib.sha256).digest()

    def pseudonym(self, channel: str, identity: str) -> str:
        """``HMAC-SHA256(pseudonym_key, "channel:id")`` in hex: stable per key, opaque without."""
        return _hex_mac(self._pseudonyms, f"{channel}:{identity}")

    def delivery_key(self, channel: str, external_id: str) -> str:
        # A WhatsApp message id (wamid) embeds the sender's number, so even delivery ids are hashed.
        return _hex_mac(self._deliveries, f"{channel}:{external_id}")

    def receipt_hash(self, canonical_receipt: str) -> str:
        return hmac.new(
            self._receipt_key, canonical_receipt.encode("ascii"), hashlib.sha256
        ).hexdigest()


def _hex_mac(keyed: hmac.HMAC, message: str) -> str:
    mac = keyed.copy()
    mac.update(message.encode())
    return mac.hexdigest()


# A field's token: this version byte, the key's id, a random nonce, then GCM's ciphertext and tag.
# (A Fernet token is base64 text and never starts with this byte.)
_AEAD_VERSION = b"\x02"
_KEY_ID = 4
_NONCE = 12
_HEADER = len(_AEAD_VERSION) + _KEY_ID + _NONCE


def _aead_key(data_key: str) -> tuple[bytes, AESGCM]:
    """The key id and the AES-256-GCM key derived from one of ``LAPOR_DATA_KEYS``."""
    raw = base64.urlsafe_b64decode(data_key)
    key_id = hashlib.sha256(b"lapor/field-key-id\0" + raw).digest()[:_KEY_ID]
    return key_id, AESGCM(hmac.new(raw, b"lapor/field-aead", hashlib.sha256).digest())


class FieldCipher:
    """Authenticated encryption of stored fields, with rotation across ``data_keys``."""

    def __init__(self, data_keys: list[str]) -> None:
        keys = [_aead_key(key) for key in data_keys]
        self._current_id, self._current = keys[0]
        self._by_id = dict(reversed(keys))
        self._fernet = MultiFernet([Fernet(key) for key in data_keys])  # tokens of old versions

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        sealed = self._current.encrypt(nonce, plaintext, None)
        return b"".join((_AEAD_VERSION, self._current_id, nonce, sealed))

    def decrypt(self, token: bytes) -> bytes:
        try:
            if token[:1] != _AEAD_VERSION:
                return self._fernet.decrypt(token)
            key = self._by_id.get(token[1 : 1 + _KEY_ID])
            if key is None or len(token) < _HEADER:
                raise InvalidTag
            return key.decrypt(token[1 + _KEY_ID : _HEADER], token[_HEADER:], None)
        except (InvalidToken, InvalidTag):
            raise DecryptionError("no configured data key decrypts this value") from None

    def encrypt_text(self, plaintext: str) -> bytes:
        return self.encrypt(plaintext.encode("utf-8"))

    def decrypt_text(self, token: bytes) -> str:
        return self.decrypt(token).decode("utf-8")

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt under the current (first) key, in the current format."""
        return self.encrypt(self.decrypt(token))


@dataclass(frozen=True)
class Crypto:
    """What the storage layer needs from :class:`Keys`, built once per process."""

    hasher: Hasher
    cipher: FieldCipher
    token_key: bytes = field(repr=False)

    @classmethod
    def from_keys(cls, keys: Keys) -> Crypto:
        token_key = hashlib.sha256(b"lapor/token\0" + keys.secret_key.encode()).digest()
        return cls(
            hasher=Hasher(keys.pseudonym_key),
            cipher=FieldCipher(keys.data_keys),
            token_key=base64.urlsafe_b64encode(token_key),
        )
