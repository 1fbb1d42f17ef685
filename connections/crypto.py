"""Encryption at rest for connection secrets (Fernet, with MultiFernet key rotation).

settings.TURNBOX_ENCRYPTION_KEYS lists Fernet keys: the first encrypts, every one
decrypts. To rotate, an operator puts a new key first, keeps the old ones after it,
runs ``manage.py rotate_encryption_keys``, and only then drops the old keys.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

__all__ = ["InvalidToken", "decrypt", "encrypt", "is_current", "rotate"]


def _keys() -> tuple[str, ...]:
    keys = tuple(settings.TURNBOX_ENCRYPTION_KEYS)
    if not keys:
        raise ValueError("TURNBOX_ENCRYPTION_KEYS is empty: at least one Fernet key is needed.")
    return keys


# Keyed by the key list itself, so a changed setting (tests, a reload) builds a new one.
@lru_cache(maxsize=4)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


@lru_cache(maxsize=4)
def _primary(key: str) -> Fernet:
    return Fernet(key)


def encrypt(plaintext: str) -> str:
    return _multi_fernet(_keys()).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Raises InvalidToken when no configured key can read the token."""
    return _multi_fernet(_keys()).decrypt(token.encode()).decode()


def is_current(token: str) -> bool:
    """True when the first (encrypting) key alone can read the token."""
    try:
        _primary(_keys()[0]).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate(token: str) -> str:
    """Re-encrypts under the first key; raises InvalidToken when no key can read it."""
    return _multi_fernet(_keys()).rotate(token.encode()).decode()
