"""Encryption of stored secrets: AES-256-GCM with key ids, so keys can be rotated.

A stored value looks like ``v1.<kid>.<base64url(nonce || ciphertext || tag)>``:

- ``kid`` is the first 8 hex digits of SHA-256 over the key, so a value names the key that
  sealed it without revealing anything about it;
- the nonce is 96 random bits, fresh for every value;
- the caller passes associated data (``aad``) naming where the value lives (table, row id,
  column). GCM authenticates it, so a ciphertext copied into another row does not decrypt.

The newest key encrypts; every configured key decrypts. ``modelreg keys rotate`` re-encrypts
every value with the newest key (see ``is_current``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from modelreg.errors import EncryptionKeyError

if TYPE_CHECKING:
    from modelreg.settings import Settings

__all__ = ["KeyRing", "generate_key", "model_aad"]

_VERSION: Final = "v1"
_NONCE_BYTES: Final = 12
_KEY_BYTES: Final = 32


def generate_key() -> str:
    """A new random key, base64-encoded as MODELREG_ENCRYPTION_KEY expects."""
    return base64.b64encode(os.urandom(_KEY_BYTES)).decode("ascii")


def model_aad(model_id: object, column: str) -> bytes:
    """The associated data binding a secret to one column of one llm_models row."""
    return f"llm_models:{model_id}:{column}".encode()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"modelreg-key-id:" + key).hexdigest()[:8]


def _decode_key(encoded: str, *, setting: str) -> bytes:
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _KEY_BYTES:
        # never echo the value: it is (or is meant to be) a secret
        raise EncryptionKeyError(f"{setting} must be the base64 encoding of exactly 32 bytes")
    return raw


class KeyRing:
    """The current key (encrypts) and older keys (decrypt only)."""

    __slots__ = ("_ciphers", "_current_kid")

    def __init__(self, current: bytes, old: Iterable[bytes] = ()) -> None:
        self._current_kid = _key_id(current)
        self._ciphers: dict[str, AESGCM] = {self._current_kid: AESGCM(current)}
        for key in old:
            self._ciphers.setdefault(_key_id(key), AESGCM(key))

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        if settings.encryption_key is None:
            raise EncryptionKeyError(
                "MODELREG_ENCRYPTION_KEY is not set (run bootstrap.ensure_secrets first)"
            )
        current = _decode_key(
            settings.encryption_key.get_secret_value(), setting="MODELREG_ENCRYPTION_KEY"
        )
        old = [
            _decode_key(k.get_secret_value(), setting="MODELREG_OLD_ENCRYPTION_KEYS")
            for k in settings.old_encryption_keys
        ]
        return cls(current, old)

    @classmethod
    def from_keys(cls, current: str, *old: str) -> KeyRing:
        """Build from base64 keys (tests, tools)."""
        return cls(
            _decode_key(current, setting="encryption key"),
            [_decode_key(k, setting="old encryption key") for k in old],
        )

    @property
    def current_key_id(self) -> str:
        return self._current_kid

    def encrypt(self, plaintext: str, *, aad: bytes) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self._current_kid].encrypt(nonce, plaintext.encode(), aad)
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")
        return f"{_VERSION}.{self._current_kid}.{body}"

    def decrypt(self, token: str, *, aad: bytes) -> str:
        kid, blob = self._split(token)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise EncryptionKeyError(
                f"secret was encrypted with key {kid}, which is not configured "
                "(add it to MODELREG_OLD_ENCRYPTION_KEYS)"
            )
        try:
            plaintext = cipher.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad)
        except InvalidTag:
            raise EncryptionKeyError(
                "secret failed authentication: tampered, moved from another row, or wrong key"
            ) from None
        return plaintext.decode()

    def is_current(self, token: str) -> bool:
        """True when the value is sealed with the newest key (rotation skips it)."""
        kid, _ = self._split(token)
        return kid == self._current_kid

    def reencrypt(self, token: str, *, aad: bytes) -> str:
        return self.encrypt(self.decrypt(token, aad=aad), aad=aad)

    @staticmethod
    def _split(token: str) -> tuple[str, bytes]:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _VERSION:
            raise EncryptionKeyError("stored secret has an unknown format")
        try:
            blob = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
        except (binascii.Error, ValueError):
            raise EncryptionKeyError("stored secret has an unknown format") from None
        if len(blob) < _NONCE_BYTES + 16:
            raise EncryptionKeyError("stored secret has an unknown format")
        return parts[1], blob

    def __repr__(self) -> str:
        return f"KeyRing(current={self._current_kid!r}, keys={len(self._ciphers)})"
