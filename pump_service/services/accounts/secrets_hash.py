"""The one way a client-held secret (cookie token, API token) becomes a stored key."""

import hashlib
import secrets

__all__ = ["new_secret", "secret_key"]


def new_secret() -> str:
    """32 random bytes, URL-safe: a cookie or bearer token."""
    return secrets.token_urlsafe(32)


def secret_key(secret: str) -> str:
    """The SHA-256 hex stored for ``secret``: the row's id, never the secret itself."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
