"""Registration, login, refresh-token rotation with reuse detection, and token resolution."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import configure_mappers, make_transient_to_detached

from app import db
from app.admin.models import Invite
from app.auth import security
from app.auth.models import ApiToken, RefreshToken
from app.auth.schemas import RegisterRequest, TokenPair
from app.config import Settings
from app.db import ReadPool, publish_after_commit
from app.errors import Conflict, Forbidden, TooManyRequests, Unauthorized
from app.ratelimit import RateLimiter
from app.users.models import User
from app.users.schemas import UserCreate

log = logging.getLogger("fuze.auth")

# Verifying against this when the login matches no user keeps response times alike, so timing
# does not tell which usernames exist.
_DUMMY_HASHES: dict[tuple[int, int], str] = {}


class RefreshTokenReused(Unauthorized):
    code = "refresh_token_reused"
    message = "This refresh token was already used; every session of this login was signed out."
    keep_changes = True  # the family's revocation must be committed along with the 401


class SessionEnded(Unauthorized):
    code = "session_ended"
    message = "This session has ended (signed out, or the password was changed); sign in again."


@dataclass(frozen=True, slots=True)
class Credential:
    """What a request was authenticated with: a login session (for an access token, the
    refresh token issued with it) or a personal API token, and when it stops being valid. Event streams
    keep it, to re-check it while they run and to close when it expires."""

    user_id: uuid.UUID
    session_id: uuid.UUID | None = None
    api_token_id: uuid.UUID | None = None
    expires_at: float | None = None  # epoch seconds; None: until revoked
    scope: str = "full"  # a token's (app/auth/scopes.py); a session may do everything


# Held by a registration while the server has no account yet, until it commits: two first
# sign-ups at once make one administrator, and the other is a second account under the policy.
_FIRST_ACCOUNT_LOCK = 0x46555A45_41444D4E  # "FUZEADMN"


async def no_account_yet(session: AsyncSession) -> bool:
    return await session.scalar(select(User.id).limit(1)) is None


async def _first_account(session: AsyncSession) -> bool:
    """Whether this registration makes the server's first account (its administrator)."""
    if not await no_account_yet(session):
        return False
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FIRST_ACCOUNT_LOCK})
    # A new statement, a new snapshot: a first account committed while we waited is seen.
    return await no_account_yet(session)


async def _redeem_invite(session: AsyncSession, code: str | None) -> None:
    """Spend one use of an invite code, in one statement (concurrent sign-ups cannot spend
    more uses than it has); undone with the rest if the registration fails."""
    if not code:
        raise Forbidden(
            "Sign-up needs an invite code from an administrator.", code="invite_required"
        )
    spent = await session.scalar(
        update(Invite)
        .where(
            Invite.code_hash == security.token_digest(code.strip()),
            Invite.revoked_at.is_(None),
            or_(Invite.expires_at.is_(None), Invite.expires_at > datetime.now(UTC)),
            Invite.uses < Invite.max_uses,
        )
        .values(uses=Invite.uses + 1)
        .returning(Invite.id)
    )
    if spent is None:
        raise Forbidden(
            "This invite code is not valid: wrong, expired, revoked or used up.",
            code="invalid_invite",
        )


async def register(session: AsyncSession, settings: Settings, data: RegisterRequest) -> User:
    """Sign-up under the server's policy (open, invite, closed); the first account of a
    server can always be made, and is its administrator."""
    first = await _first_account(session)
    if not first:
        policy = settings.signup_policy
        if policy == "closed":
            raise Forbidden(
                "Sign-up is closed on this server; an administrator can create your account.",
                code="signup_closed",
            )
        if policy == "invite":
            await _redeem_invite(session, data.invite_code)
    return await create_user(session, settings, data, is_admin=first)


async def create_user(
    session: AsyncSession, settings: Settings, data: UserCreate, *, is_admin: bool = False
) -> User:
    taken = await session.execute(
        select(User.username, User.email).where(
            or_(
                func.lower(User.username) == data.username.lower(),
                func.lower(User.email) == data.email.lower(),
            )
        )
    )
    for username, email in taken:
        if username.lower() == data.username.lower():
            raise Conflict("This username is taken.", code="username_taken")
        if email.lower() == data.email.lower():
            raise Conflict("An account with this email exists.", code="email_taken")
    password_hash = await asyncio.to_thread(security.hash_password, settings, data.password)
    user = User(
        username=data.username, email=data.email, password_hash=password_hash, is_admin=is_admin
    )
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise Conflict("This username or email is taken.", code="username_taken") from exc
    return user


async def authenticate(
    session: AsyncSession, settings: Settings, login: str, password: str
) -> User:
    key = login.strip().lower()
    if "\x00" in key:  # the OAuth2 form is not a schema; no account has such a name
        raise Unauthorized("Wrong username/email or password.", code="invalid_credentials")
    user = await session.scalar(
        select(User).where(or_(func.lower(User.username) == key, func.lower(User.email) == key))
    )
    if user is None:
        params = (settings.argon2_time_cost, settings.argon2_memory_kib)
        if params not in _DUMMY_HASHES:
            _DUMMY_HASHES[params] = security.hash_password(settings, "not-a-real-password")
        await asyncio.to_thread(security.verify_password, settings, password, _DUMMY_HASHES[params])
        raise Unauthorized("Wrong username/email or password.", code="invalid_credentials")
    valid, new_hash = await asyncio.to_thread(
        security.verify_password, settings, password, user.password_hash
    )
    if not valid:
        raise Unauthorized("Wrong username/email or password.", code="invalid_credentials")
    if not user.is_active:
        raise Unauthorized("This account is disabled.", code="account_disabled")
    if new_hash:
        user.password_hash = new_hash
    return user


async def login(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    login: str,
    password: str,
    user_agent: str | None,
) -> TokenPair:
    """Sign in, capping failed attempts per account: brute force on one account from many
    addresses is not stopped by per-IP limits alone."""
    key = f"login-fail:{login.strip().lower()}"
    window = settings.rate_limit_login_failure_window_seconds
    limited = settings.rate_limit_enabled
    if limited:
        seen = await limiter.peek(key, window)
        if seen.count >= settings.rate_limit_login_failures:
            raise TooManyRequests(
                seen.retry_after,
                f"Too many failed sign-ins for this account; try again in {seen.retry_after} seconds.",
            )
    try:
        user = await authenticate(session, settings, login, password)
    except Unauthorized:
        if limited:
            await limiter.incr(key, window)
        raise
    if limited:
        await limiter.reset(key)
    return await issue_tokens(session, settings, user, user_agent=user_agent)


async def issue_tokens(
    session: AsyncSession,
    settings: Settings,
    user: User,
    family_id: uuid.UUID | None = None,
    user_agent: str | None = None,
) -> TokenPair:
    # The access token names the refresh token issued with it: one primary-key probe tells
    # whether its session stands, since ending a session revokes every token of its family.
    link_id = uuid.uuid4()
    access, ttl = security.create_access_token(settings, user.id, link_id)
    refresh = security.new_opaque_token(security.REFRESH_PREFIX)
    session.add(
        RefreshToken(
            id=link_id,
            user_id=user.id,
            family_id=family_id or uuid.uuid4(),
            token_hash=security.token_digest(refresh),
            expires_at=datetime.now(UTC) + timedelta(seconds=settings.refresh_token_ttl_seconds),
            user_agent=(user_agent or "")[:300] or None,
        )
    )
    await session.flush()
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=ttl)


def sessions_channel(user_id: uuid.UUID | str) -> str:
    return f"fuze:sessions:{user_id}"


def sessions_changed(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Once committed, tell this user's open event streams (on every API process, over
    pub/sub) to check whether their session still stands."""
    publish_after_commit(session, sessions_channel(user_id), "changed")
    # An ended session must not stand a moment longer on a read replica.
    db.wrote_for(session, user_id)


async def _revoke_family(session: AsyncSession, user_id: uuid.UUID, family_id: uuid.UUID) -> None:
    """End one login session: its refresh tokens and so its access tokens (each names a
    refresh token of the family as its `sid`; user_from_token reads whether it is revoked)."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    sessions_changed(session, user_id)


async def refresh(
    session: AsyncSession, settings: Settings, token: str, user_agent: str | None = None
) -> TokenPair:
    invalid = Unauthorized("This refresh token is not valid.", code="invalid_refresh_token")
    if not token.startswith(security.REFRESH_PREFIX):
        raise invalid
    # FOR UPDATE serialises two refreshes of the same token: the second one sees it spent.
    row = await session.scalar(
        select(RefreshToken)
        .where(RefreshToken.token_hash == security.token_digest(token))
        .with_for_update()
    )
    if row is None or row.revoked_at is not None:
        raise invalid
    now = datetime.now(UTC)
    if row.used_at is not None:
        log.warning("refresh token reuse; revoking family", extra={"family_id": str(row.family_id)})
        await _revoke_family(session, row.user_id, row.family_id)
        raise RefreshTokenReused()
    if row.expires_at <= now:
        raise Unauthorized(
            "This refresh token has expired; sign in again.", code="refresh_token_expired"
        )
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise invalid
    row.used_at = now
    return await issue_tokens(
        session, settings, user, family_id=row.family_id, user_agent=user_agent
    )


async def logout(session: AsyncSession, token: str) -> None:
    row = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == security.token_digest(token))
    )
    if row is not None:
        await _revoke_family(session, row.user_id, row.family_id)


async def revoke_all_sessions(session: AsyncSession, user_id: uuid.UUID) -> None:
    """End every login session of the user (personal API tokens are revoked one by one)."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    sessions_changed(session, user_id)


# Who a token belongs to, with the user's data version (app.recommendations.service) and, for
# an access token, whether its login session still stands, read in one round trip through
# the read pool (app.db.ReadPool) on every authenticated request. The token's `sid` is the
# refresh token issued with it; logout, a password change and a replayed refresh token revoke
# every token of a family at once, so that one row, found by its primary key, says whether
# the session stands (a probe of the family would cost more the longer it grows).
_USER_COLUMNS = [c.name for c in User.__table__.columns]
_USER_SELECT = ", ".join(f"u.{c}" for c in _USER_COLUMNS)
_SESSION_STANDS = (
    "EXISTS (SELECT 1 FROM refresh_tokens r"
    " WHERE r.id = $2 AND r.user_id = u.id AND r.revoked_at IS NULL)"
)
_USER_BY_SESSION = (
    f"SELECT {_USER_SELECT}, coalesce(v.version, 0) AS data_version,"
    f" {_SESSION_STANDS} AS session_stands FROM users u"
    " LEFT JOIN user_data_versions v ON v.user_id = u.id WHERE u.id = $1"
)
# Whether a credential (app.events: a stream, while it runs) is still good.
_CREDENTIAL_STANDS = (
    "SELECT u.disabled_at IS NULL"
    f" AND ($2::uuid IS NULL OR {_SESSION_STANDS})"
    " AND ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM api_tokens t"
    " WHERE t.id = $3 AND t.user_id = u.id))"
    " FROM users u WHERE u.id = $1"
)
# A personal API token names no user: the lookup is the one read across users, through a
# SECURITY DEFINER function (alembic revision a7c8d9e0f1a2) that also makes the token's owner
# the read-pool connection's user.
_USER_BY_API_TOKEN = (
    "SELECT (f.owner).*, f.data_version, f.token_id, f.token_expires_at, f.token_last_used_at,"
    " f.token_scope FROM fuze_user_by_api_token($1) f"
)


_NEW_USER = User.__mapper__.class_manager.new_instance


def _user_of(row: Any) -> User:
    """The row as a User, as if a session had loaded it and let it go (detached): routes read
    it, and a request's session takes it in (Authenticated.attach_to), after which changes to
    it are flushed at commit like any other. Like the ORM's own loading, the values go
    straight into the instance's dict, not through its attribute events (which cost twice as
    much, on every request)."""
    # User() configures the mappers on first use; new_instance does not, and the first
    # request of a fresh process may be this one (a no-op once they are).
    configure_mappers()
    user = _NEW_USER()
    values = user.__dict__
    for column in _USER_COLUMNS:
        values[column] = row[column]
    values["id"] = uuid.UUID(bytes=row["id"].bytes)  # asyncpg's own UUID type -> uuid.UUID
    make_transient_to_detached(user)
    return user


@dataclass(slots=True)
class Authenticated:
    """Who a request is for, found without an ORM session: a route that reads through the
    read pool alone opens none. The request's session, if it opens one, takes the user in."""

    user: User
    credential: Credential
    # Bumped at the commit of any change that shapes the user's recommendations: the key of
    # their cached answers (app.recommendations), read here with the user.
    data_version: int
    # An API token whose last use is over a minute old: record_token_use() notes it.
    token_used: datetime | None = None

    async def attach_to(self, session: AsyncSession) -> None:
        """The session works for this user (row-level security, app.db) and holds the user
        as its own object."""
        session.add(self.user)
        await db.bind_user(session, self.user.id)


async def user_from_token(reads: ReadPool, settings: Settings, token: str) -> Authenticated:
    """The active user a bearer token (access JWT or personal API token) belongs to, and what
    authenticated the request."""
    if token.startswith(security.API_TOKEN_PREFIX):
        row = await reads.fetch_owner(_USER_BY_API_TOKEN, security.token_digest(token))
        if row is None:
            raise Unauthorized("This API token is not valid.", code="invalid_token")
        now = datetime.now(UTC)
        expires_at, last_used_at = row["token_expires_at"], row["token_last_used_at"]
        if expires_at is not None and expires_at <= now:
            raise Unauthorized("This API token has expired.", code="token_expired")
        user = _user_of(row)
        found = Authenticated(
            user,
            Credential(
                user.id,
                api_token_id=uuid.UUID(bytes=row["token_id"].bytes),
                expires_at=expires_at.timestamp() if expires_at is not None else None,
                scope=row["token_scope"],
            ),
            int(row["data_version"]),
            # Use is recorded at most once a minute: no write on every request.
            now if last_used_at is None or now - last_used_at > timedelta(minutes=1) else None,
        )
    else:
        try:
            claims = security.decode_access_token(settings, token)
        except security.InvalidAccessToken as exc:
            expired = "expired" in str(exc).lower()
            raise Unauthorized(
                "The access token has expired." if expired else "The access token is not valid.",
                code="token_expired" if expired else "invalid_token",
            ) from exc
        row = await reads.fetchrow(
            _USER_BY_SESSION,
            claims.user_id,
            claims.session_id,
            user=claims.user_id,
            generic=True,
        )
        if row is None:
            raise Unauthorized("The access token is not valid.", code="invalid_token")
        # Disabling an account also ends its sessions: say which of the two is the reason.
        if row["disabled_at"] is None and not row["session_stands"]:
            raise SessionEnded()
        user = _user_of(row)
        found = Authenticated(
            user,
            Credential(user.id, session_id=claims.session_id, expires_at=claims.expires_at),
            int(row["data_version"]),
        )
    if not user.is_active:
        raise Unauthorized("This account is disabled.", code="account_disabled")
    return found


async def record_token_use(sessions: Any, found: Authenticated) -> None:
    """Note an API token's use (Authenticated.token_used), in a transaction of its own: the
    request may open no session, or roll its own back."""
    if found.token_used is None or found.credential.api_token_id is None:
        return
    async with sessions() as session:
        await db.bind_user(session, found.user.id)
        await session.execute(
            update(ApiToken)
            .where(ApiToken.id == found.credential.api_token_id)
            .values(last_used_at=found.token_used)
        )
        await session.commit()


async def credential_stands(reads: ReadPool, credential: Credential) -> bool:
    """Whether the user is active and the session or API token is not revoked (expiry is the
    caller's to check: it is in the credential)."""
    row = await reads.fetchrow(
        _CREDENTIAL_STANDS,
        credential.user_id,
        credential.session_id,
        credential.api_token_id,
        user=credential.user_id,
        generic=True,
    )
    return bool(row is not None and row[0])
