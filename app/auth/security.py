"""Passwords (argon2 via passlib), access JWTs (python-jose), opaque tokens, at-rest encryption."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jose import JWTError, jwt
from passlib.context import CryptContext

from app.config import Settings

REFRESH_PREFIX = "fzr_"
API_TOKEN_PREFIX = "fza_"


@lru_cache(maxsize=4)
def _context(time_cost: int, memory_kib: int) -> CryptContext:
    return CryptContext(
        schemes=["argon2"],
        deprecated="auto",
        argon2__time_cost=time_cost,
        argon2__memory_cost=memory_kib,
        argon2__parallelism=1,
    )


def password_context(settings: Settings) -> CryptContext:
    return _context(settings.argon2_time_cost, settings.argon2_memory_kib)


def hash_password(settings: Settings, password: str) -> str:
    return password_context(settings).hash(password)


def verify_password(
    settings: Settings, password: str, password_hash: str
) -> tuple[bool, str | None]:
    """(valid, new hash if the stored one used weaker parameters and should be replaced)."""
    return password_context(settings).verify_and_update(password, password_hash)


def create_access_token(
    settings: Settings, user_id: uuid.UUID, session_id: uuid.UUID
) -> tuple[str, int]:
    """A signed access JWT. `sid` is its session: the refresh token issued with it, revoked
    with the rest of its family when the session ends (app.auth.service.user_from_token)."""
    now = datetime.now(UTC)
    ttl = settings.access_token_ttl_seconds
    claims = {
        "sub": str(user_id),
        "sid": str(session_id),
        "type": "access",
        "iss": settings.jwt_issuer,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl)).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, settings.resolved_secret_key(), algorithm=settings.jwt_algorithm)
    return token, ttl


class InvalidAccessToken(Exception):
    pass


class AccessClaims(NamedTuple):
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: float  # epoch seconds


# Access tokens already verified here: (token, key, issuer, algorithm) -> their claims.
# A token is immutable and signed, so the same string verified once needs no second signature
# check (about 0.2 ms of every request), only its expiry; bounded, emptied when full. Whether
# its session still stands is not cached: that is read from the database on every request.
_VERIFIED: dict[tuple[str, str, str, str], AccessClaims] = {}
_VERIFIED_MAX = 10_000


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    """The claims of a valid access token. Only our one HMAC algorithm is accepted, so
    `alg: none` and algorithm-confusion tokens fail signature checks."""
    key = (token, settings.resolved_secret_key(), settings.jwt_issuer, settings.jwt_algorithm)
    seen = _VERIFIED.get(key)
    if seen is not None:
        if seen.expires_at <= time.time():
            raise InvalidAccessToken("Signature has expired.")
        return seen
    claims = _verify_access_token(settings, token)
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[key] = claims
    return claims


def _verify_access_token(settings: Settings, token: str) -> AccessClaims:
    try:
        header = jwt.get_unverified_header(token)
    except JWTError as exc:
        raise InvalidAccessToken("malformed token") from exc
    if header.get("alg") != settings.jwt_algorithm:
        raise InvalidAccessToken("unexpected algorithm")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.resolved_secret_key(),
            algorithms=[settings.jwt_algorithm],
            issuer=settings.jwt_issuer,
            options={"require_exp": True, "require_iat": True, "require_sub": True},
        )
    except JWTError as exc:
        raise InvalidAccessToken(str(exc)) from exc
    if claims.get("type") != "access":
        raise InvalidAccessToken("not an access token")
    try:
        # A token without a session (signed before sessions were revocable) is refused: the
        # client refreshes and gets one that has it.
        return AccessClaims(
            uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"]), float(claims["exp"])
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidAccessToken("bad subject or session") from exc


def new_opaque_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    # High-entropy random tokens: a plain SHA-256 is enough (no salt or slow hash needed).
    return hashlib.sha256(token.encode()).hexdigest()


def _fernet(settings: Settings) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"fuze-at-rest", info=b"gemini-api-key"
    ).derive(settings.resolved_secret_key().encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_secret(settings: Settings, value: str) -> bytes:
    return _fernet(settings).encrypt(value.encode())


def decrypt_secret(settings: Settings, blob: bytes) -> str | None:
    """None when the blob cannot be read (e.g. the server's secret key was changed)."""
    try:
        return _fernet(settings).decrypt(blob).decode()
    except InvalidToken:
        return None
