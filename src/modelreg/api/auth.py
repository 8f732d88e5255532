"""Who is calling: bearer tokens for programs, a signed session cookie for the browser.

- `Authorization: Bearer <token>` (or `x-api-key: <token>`, which the Anthropic SDK sends):
  resolved by `AccountService.resolve_token`, which caches the lookup.
- The web UI's session: cookie `modelreg_session`, a random session id signed with
  itsdangerous (HttpOnly, SameSite=Lax, Secure when `settings.cookie_secure`). The id names a
  row in the database (modelreg.sessions), so logout, a password change, disabling or
  deleting the user end the session at once on every process.
- CSRF: cookies ride along on cross-site requests, so state-changing requests authenticated
  by the cookie must carry the session's CSRF token in the `X-CSRF-Token` header (HTML forms:
  the form's token field). The token is an HMAC of the session id under the session secret
  (`session_csrf_token`): bound to the session, so a token planted in the `modelreg_csrf`
  cookie (say, from a sibling subdomain) or learnt from another session is useless. The
  cookie only hands the token to the page's JS. Before sign-in (the login form) there is no
  session: there the form's token must equal the `modelreg_csrf` cookie (double submit).
  Bearer requests need no CSRF check: browsers never add that header on their own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, Final

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from modelreg.actor import Actor
from modelreg.api.errors import ApiError
from modelreg.sessions import SESSION_LIFETIME
from modelreg.settings import Settings

if TYPE_CHECKING:
    from modelreg.accounts import AccountService

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "SESSION_MAX_AGE",
    "clear_session",
    "ensure_csrf_cookie",
    "issue_session",
    "read_session",
    "session_csrf_token",
    "verify_csrf_form",
    "verify_csrf_header",
]

SESSION_COOKIE: Final = "modelreg_session"
CSRF_COOKIE: Final = "modelreg_csrf"
CSRF_HEADER: Final = "X-CSRF-Token"
SESSION_MAX_AGE: Final = int(SESSION_LIFETIME.total_seconds())
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

# v2: the cookie holds a session id (v1 held a user id and could not be revoked)
_SALT: Final = "modelreg.session.v2"
_CSRF_CONTEXT: Final = b"modelreg.csrf.v1:"


def _secret(settings: Settings) -> str:
    if settings.session_secret is None:  # ensure_secrets fills it in before the app starts
        raise RuntimeError("session_secret is not set; run bootstrap.ensure_secrets first")
    return settings.session_secret.get_secret_value()


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_secret(settings), salt=_SALT)


def session_csrf_token(settings: Settings, session_id: str) -> str:
    """The CSRF token of one session: derived, so nothing more is stored."""
    mac = hmac.new(_secret(settings).encode(), _CSRF_CONTEXT + session_id.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


async def issue_session(
    response: Response, accounts: AccountService, actor: Actor, settings: Settings
) -> str:
    """Log `actor` in: start a session in the database and set the session cookie and the
    session's CSRF cookie on `response`. Returns the session id."""
    session_id = await accounts.sessions.start(actor)
    value = _serializer(settings).dumps({"sid": session_id})
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    csrf = session_csrf_token(settings, session_id)
    _set_csrf_cookie(response, csrf, secure=settings.cookie_secure)
    return session_id


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


def read_session(request: Request, settings: Settings) -> str | None:
    """The session id in a validly signed, unexpired session cookie, else None. Whether the
    session still exists is the database's answer (`AccountService.session_actor`)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(settings).loads(raw, max_age=SESSION_MAX_AGE)
        session_id = data["sid"]
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    return session_id if isinstance(session_id, str) else None


def _set_csrf_cookie(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        token,
        max_age=SESSION_MAX_AGE,
        httponly=False,  # the page's JS copies it into the X-CSRF-Token header
        samesite="lax",
        secure=secure,
        path="/",
    )


def ensure_csrf_cookie(request: Request, response: Response, token: str | None = None) -> str:
    """The CSRF token for the page being rendered: `token` (a session's) or, before sign-in,
    the cookie's or a new one. Sets the cookie when it does not hold that token."""
    current = request.cookies.get(CSRF_COOKIE)
    token = token or current or secrets.token_urlsafe(32)
    if token != current:
        services = getattr(request.app.state, "services", None)
        secure = bool(services is not None and services.settings.cookie_secure)
        _set_csrf_cookie(response, token, secure=secure)
    return token


def _tokens_match(cookie: str | None, submitted: str | None) -> bool:
    if not cookie or not submitted:
        return False
    return hmac.compare_digest(cookie.encode(), submitted.encode())


def verify_csrf_header(request: Request, expected: str) -> None:
    """For cookie-authenticated JSON requests: the header must hold the session's token
    (`session_csrf_token`); 403 otherwise."""
    if request.method in SAFE_METHODS:
        return
    if not _tokens_match(expected, request.headers.get(CSRF_HEADER)):
        raise ApiError(403, "CSRF token missing or invalid", type="csrf_failed")


def verify_csrf_form(request: Request, token: str | None, expected: str | None = None) -> None:
    """For HTML form posts: the form's hidden token must equal the session's token
    (`expected`) or, with no session yet (the login form), the CSRF cookie."""
    if not _tokens_match(expected or request.cookies.get(CSRF_COOKIE), token):
        raise ApiError(403, "CSRF token missing or invalid", type="csrf_failed")
