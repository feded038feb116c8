"""Pseudonyms, field encryption with key rotation, and keyed hashes.

A channel identity (a Telegram chat id, a WhatsApp number) never reaches the database: it becomes
``HMAC-SHA256(pseudonym_key, "channel:id")`` at the edge. Free text and reply addresses are stored
encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``); ``MultiFernet`` gives
rotation: the first data key encrypts, every listed key decrypts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

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

    def _derive(self, purpose: bytes) -> bytes:
        return hmac.new(self._key, purpose, hashlib.sha256).digest()

    def pseudonym(self, channel: str, identity: str) -> str:
        """``HMAC-SHA256(pseudonym_key, "channel:id")`` in hex: stable per key, opaque without."""
        message = f"{channel}:{identity}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def delivery_key(self, channel: str, external_id: str) -> str:
        # A WhatsApp message id (wamid) embeds the sender's number, so even delivery ids are hashed.
        message = f"{channel}:{external_id}".encode()
        return hmac.new(self._delivery_key, message, hashlib.sha256).hexdigest()

    def receipt_hash(self, canonical_receipt: str) -> str:
        return hmac.new(
            self._receipt_key, canonical_receipt.encode("ascii"), hashlib.sha256
        ).hexdigest()


class FieldCipher:
    """Authenticated encryption of stored fields, with rotation across ``data_keys``."""

    def __init__(self, data_keys: list[str]) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in data_keys])

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise DecryptionError("no configured data key decrypts this value") from None

    def encrypt_text(self, plaintext: str) -> bytes:
        return self.encrypt(plaintext.encode("utf-8"))

    def decrypt_text(self, token: bytes) -> str:
        return self.decrypt(token).decode("utf-8")

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt under the current (first) key."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise DecryptionError("no configured data key decrypts this value") from None


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
