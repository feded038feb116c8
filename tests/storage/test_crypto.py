from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from storage.crypto import (
    DecryptionError,
    FieldCipher,
    Hasher,
    Keys,
    generate_data_key,
    generate_secret,
)


def test_pseudonym_is_stable_for_one_key() -> None:
    key = generate_secret()
    assert Hasher(key).pseudonym("telegram", "123456789") == Hasher(key).pseudonym(
        "telegram", "123456789"
    )


def test_hashes_are_the_documented_hmacs_and_do_not_drift() -> None:
    """Live conversations, deliveries and rate limits are found by these values: the same key
    must give the same hash in every version and on every call (the keyed state is copied)."""
    key = "a-pseudonym-key"
    hasher = Hasher(key)
    delivery_key = hmac.new(key.encode(), b"lapor/delivery", hashlib.sha256).digest()
    for identity in ("6281234567890", "123456789", "6281234567891"):
        expected = hmac.new(key.encode(), f"whatsapp:{identity}".encode(), hashlib.sha256)
        assert hasher.pseudonym("whatsapp", identity) == expected.hexdigest()
        delivered = hmac.new(delivery_key, f"whatsapp:wamid.{identity}".encode(), hashlib.sha256)
        assert hasher.delivery_key("whatsapp", f"wamid.{identity}") == delivered.hexdigest()


def test_pseudonym_differs_across_keys_channels_and_identities() -> None:
    first, second = Hasher(generate_secret()), Hasher(generate_secret())
    values = {
        first.pseudonym("telegram", "123456789"),
        second.pseudonym("telegram", "123456789"),
        first.pseudonym("whatsapp", "123456789"),
        first.pseudonym("telegram", "123456780"),
    }
    assert len(values) == 4


def test_pseudonym_hides_the_identity() -> None:
    pseudonym = Hasher(generate_secret()).pseudonym("whatsapp", "6281234567890")
    assert "6281234567890" not in pseudonym
    assert len(pseudonym) == 64


def test_purposes_never_collide() -> None:
    hasher = Hasher(generate_secret())
    assert hasher.pseudonym("whatsapp", "X") != hasher.delivery_key("whatsapp", "X")
    assert hasher.receipt_hash("K7QM3XHP9TRAW") != hasher.pseudonym("", "K7QM3XHP9TRAW")


@given(st.text(min_size=1, max_size=500))
def test_ciphertext_never_contains_its_plaintext(text: str) -> None:
    cipher = FieldCipher([KEY_A])
    token = cipher.encrypt_text(text)
    encoded = text.encode("utf-8")
    if len(encoded) >= 4:
        assert encoded not in token
    assert cipher.decrypt_text(token) == text


def test_two_encryptions_of_the_same_text_differ() -> None:
    cipher = FieldCipher([KEY_A])
    assert cipher.encrypt_text("sama") != cipher.encrypt_text("sama")


def test_old_data_reads_after_rotation() -> None:
    old = FieldCipher([KEY_A]).encrypt_text("cerita lama")
    rotated = FieldCipher([KEY_B, KEY_A])
    assert rotated.decrypt_text(old) == "cerita lama"
    renewed = rotated.rotate(old)
    assert FieldCipher([KEY_B]).decrypt_text(renewed) == "cerita lama"
    with pytest.raises(DecryptionError):
        FieldCipher([KEY_B]).decrypt_text(old)


def test_new_data_is_written_under_the_first_key() -> None:
    token = FieldCipher([KEY_B, KEY_A]).encrypt_text("baru")
    assert FieldCipher([KEY_B]).decrypt_text(token) == "baru"
    with pytest.raises(DecryptionError):
        FieldCipher([KEY_A]).decrypt_text(token)


@given(st.data())
def test_tampered_ciphertext_is_refused(data: st.DataObject) -> None:
    cipher = FieldCipher([KEY_A])
    token = bytearray(cipher.encrypt_text("utuh"))
    position = data.draw(st.integers(0, len(token) - 1))
    token[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(DecryptionError):
        cipher.decrypt(bytes(token))
    with pytest.raises(DecryptionError):
        cipher.decrypt(bytes(token[: data.draw(st.integers(0, len(token) - 1))]))


def test_fields_written_as_fernet_tokens_by_older_versions_still_read() -> None:
    old = Fernet(KEY_A).encrypt(b"cerita dari versi lama")
    cipher = FieldCipher([KEY_B, KEY_A])
    assert cipher.decrypt_text(old) == "cerita dari versi lama"
    renewed = cipher.rotate(old)
    assert not renewed.startswith(b"gAAAA")  # rewritten in the current format, under KEY_B
    assert FieldCipher([KEY_B]).decrypt_text(renewed) == "cerita dari versi lama"
    with pytest.raises(DecryptionError):
        FieldCipher([KEY_B]).decrypt(old)


@pytest.mark.parametrize(
    ("secret_key", "pseudonym_key", "data_keys", "message"),
    [
        ("short", "p" * 40, [generate_data_key()], "LAPOR_SECRET_KEY must be at least"),
        ("s" * 40, "short", [generate_data_key()], "LAPOR_PSEUDONYM_KEY must be at least"),
        ("s" * 40, "p" * 40, [], "LAPOR_DATA_KEYS needs at least one key"),
        ("s" * 40, "p" * 40, ["not-a-key"], "LAPOR_DATA_KEYS key 1 is not a valid key"),
        ("s" * 40, "s" * 40, [generate_data_key()], "must differ"),
    ],
)
def test_bad_keys_are_refused_with_the_variable_named(
    secret_key: str, pseudonym_key: str, data_keys: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Keys(secret_key=secret_key, pseudonym_key=pseudonym_key, data_keys=data_keys)


def test_keys_do_not_show_in_their_repr() -> None:
    keys = Keys(secret_key="s" * 40, pseudonym_key="p" * 40, data_keys=[KEY_A])
    assert "s" * 40 not in repr(keys)
    assert KEY_A not in repr(keys)


KEY_A = generate_data_key()
KEY_B = generate_data_key()
