"""AES-GCM key ring: round trip, tampering, wrong key, rotation, associated data."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr

from modelreg.crypto import KeyRing, generate_key, model_aad
from modelreg.errors import EncryptionKeyError
from modelreg.settings import Settings

AAD = model_aad("8b0c3d4e-0000-0000-0000-000000000001", "api_key")
SECRET = "sk-live-0123456789abcdef"


def test_round_trip_and_fresh_nonce() -> None:
    ring = KeyRing.from_keys(generate_key())
    first = ring.encrypt(SECRET, aad=AAD)
    second = ring.encrypt(SECRET, aad=AAD)
    assert first != second  # a new random nonce every time
    assert ring.decrypt(first, aad=AAD) == SECRET
    assert ring.decrypt(second, aad=AAD) == SECRET
    assert SECRET not in first
    assert first.startswith(f"v1.{ring.current_key_id}.")


def test_tampered_ciphertext_fails() -> None:
    ring = KeyRing.from_keys(generate_key())
    token = ring.encrypt(SECRET, aad=AAD)
    version, kid, body = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[-1] ^= 0x01
    tampered = f"{version}.{kid}.{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}"
    with pytest.raises(EncryptionKeyError, match="failed authentication"):
        ring.decrypt(tampered, aad=AAD)


@pytest.mark.parametrize(
    "garbage", ["", "v1.abc", "v2.abcd1234.AAAA", "v1.abcd1234.!!!", "v1.x.QQ"]
)
def test_malformed_values_fail_cleanly(garbage: str) -> None:
    with pytest.raises(EncryptionKeyError):
        KeyRing.from_keys(generate_key()).decrypt(garbage, aad=AAD)


def test_wrong_key_names_the_missing_key_id() -> None:
    token = KeyRing.from_keys(generate_key()).encrypt(SECRET, aad=AAD)
    other = KeyRing.from_keys(generate_key())
    with pytest.raises(EncryptionKeyError, match="not configured") as info:
        other.decrypt(token, aad=AAD)
    assert SECRET not in str(info.value)


def test_same_key_id_but_different_key_fails_authentication() -> None:
    # a forged key id pointing at the current key must not decrypt
    ring_a = KeyRing.from_keys(generate_key())
    ring_b = KeyRing.from_keys(generate_key())
    token = ring_a.encrypt(SECRET, aad=AAD)
    _, _, body = token.split(".")
    with pytest.raises(EncryptionKeyError, match="failed authentication"):
        ring_b.decrypt(f"v1.{ring_b.current_key_id}.{body}", aad=AAD)


def test_associated_data_binds_the_value_to_its_row() -> None:
    ring = KeyRing.from_keys(generate_key())
    token = ring.encrypt(SECRET, aad=AAD)
    with pytest.raises(EncryptionKeyError):
        ring.decrypt(token, aad=model_aad("8b0c3d4e-0000-0000-0000-000000000002", "api_key"))
    with pytest.raises(EncryptionKeyError):
        ring.decrypt(token, aad=model_aad("8b0c3d4e-0000-0000-0000-000000000001", "auth_headers"))


def test_rotation_old_keys_decrypt_new_key_encrypts() -> None:
    old_key, new_key = generate_key(), generate_key()
    old_ring = KeyRing.from_keys(old_key)
    token = old_ring.encrypt(SECRET, aad=AAD)

    rotated = KeyRing.from_keys(new_key, old_key)
    assert not rotated.is_current(token)
    assert rotated.decrypt(token, aad=AAD) == SECRET
    fresh = rotated.reencrypt(token, aad=AAD)
    assert rotated.is_current(fresh)
    # after rotation the old key is no longer needed
    assert KeyRing.from_keys(new_key).decrypt(fresh, aad=AAD) == SECRET


def test_from_settings_reads_current_and_old_keys() -> None:
    old_key, new_key = generate_key(), generate_key()
    token = KeyRing.from_keys(old_key).encrypt(SECRET, aad=AAD)
    settings = Settings(
        encryption_key=SecretStr(new_key),
        old_encryption_keys=f" {old_key} ,",  # type: ignore[arg-type]
    )
    assert KeyRing.from_settings(settings).decrypt(token, aad=AAD) == SECRET


@pytest.mark.parametrize(
    "bad",
    [
        "not base64 at all!",
        base64.b64encode(b"short").decode(),
        base64.b64encode(b"x" * 33).decode(),
    ],
)
def test_bad_key_setting_is_named_and_not_echoed(bad: str) -> None:
    with pytest.raises(EncryptionKeyError, match="MODELREG_ENCRYPTION_KEY") as info:
        KeyRing.from_settings(Settings(encryption_key=SecretStr(bad)))
    assert bad not in str(info.value)


def test_missing_key_is_a_clear_error() -> None:
    with pytest.raises(EncryptionKeyError, match="MODELREG_ENCRYPTION_KEY"):
        KeyRing.from_settings(Settings(encryption_key=None))


def test_repr_reveals_no_key_material() -> None:
    key = generate_key()
    ring = KeyRing.from_keys(key)
    assert key not in repr(ring)
    assert repr(ring) == f"KeyRing(current='{ring.current_key_id}', keys=1)"
