"""Encryption at rest for provider credentials (Fernet; several keys allow rotation)."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _fernet_key(raw: str) -> bytes:
    """Accept a real Fernet key, or derive one from any secret string."""
    try:
        if len(base64.urlsafe_b64decode(raw.encode())) == 32:
            return raw.encode()
    except (ValueError, TypeError):
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(raw.encode()).digest())


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    keys = list(settings.CLARION_ENCRYPTION_KEYS) or [settings.SECRET_KEY]
    if not all(keys):
        raise ImproperlyConfigured("CLARION_ENCRYPTION_KEYS holds an empty key")
    # The first key encrypts; all of them decrypt (put the new key first to rotate).
    return MultiFernet([Fernet(_fernet_key(key)) for key in keys])


def encrypt_json(value: dict) -> str:
    return _fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> dict:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "integration credentials cannot be decrypted: CLARION_ENCRYPTION_KEYS changed "
            "without keeping the old key"
        ) from exc
