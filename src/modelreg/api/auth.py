"""Who is calling: bearer tokens for programs, a signed session cookie for the browser.

- `Authorization: Bearer <token>` (or `x-api-key: <token>`, which the Anthropic SDK sends):
  resolved by `AccountService.resolve_token`, which caches the lookup.
- The web UI's session: cookie `modelreg_session`, a user id signed with itsdangerous
  (HttpOnly, SameSite=Lax, Secure when `settings.cookie_secure`). Cookies ride along on
  cross-site requests, so state-changing requests authenticated by the cookie must also pass
  the double-submit CSRF check: the `modelreg_csrf` cookie (readable by the page's JS) must
  equal the `X-CSRF-Token` header, or, for HTML forms, the form's token field
  (`verify_csrf_form`). Bearer requests need no CSRF check: browsers never add that header
  on their own.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from typing import Final

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from modelreg.actor import Actor
from modelreg.api.errors import ApiError
from modelreg.settings import Settings

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "SESSION_MAX_AGE",
    "clear_session",
    "ensure_csrf_cookie",
    "issue_session",
    "read_session",
    "verify_csrf_form",
    "verify_csrf_header",
]

SESSION_COOKIE: Final = "modelreg_session"
CSRF_COOKIE: Final = "modelreg_csrf"
CSRF_HEADER: Final = "X-CSRF-Token"
SESSION_MAX_AGE: Final = 7 * 24 * 3600  # seconds
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

_SALT: Final = "modelreg.session.v1"


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    if settings.session_secret is None:  # ensure_secrets fills it in before the app starts
        raise RuntimeError("session_secret is not set; run bootstrap.ensure_secrets first")
    return URLSafeTimedSerializer(settings.session_secret.get_secret_value(), salt=_SALT)


def issue_session(response: Response, actor: Actor, settings: Settings) -> None:
    """Log `actor` in: set the session cookie and a fresh CSRF cookie on `response`."""
    if actor.id is None:
        raise ValueError("only users can hold a session")
    value = _serializer(settings).dumps({"uid": str(actor.id)})
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    # a new CSRF token per login: a token planted before login is useless afterwards
    _set_csrf_cookie(response, secrets.token_urlsafe(32), secure=settings.cookie_secure)


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


def read_session(request: Request, settings: Settings) -> uuid.UUID | None:
    """The user id in a valid, unexpired session cookie, else None."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(settings).loads(raw, max_age=SESSION_MAX_AGE)
        return uuid.UUID(str(data["uid"]))
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


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


def ensure_csrf_cookie(request: Request, response: Response) -> str:
    """The CSRF token for the page being rendered; sets the cookie if it is missing."""
    token = request.cookies.get(CSRF_COOKIE)
    if token:
        return token
    token = secrets.token_urlsafe(32)
    services = getattr(request.app.state, "services", None)
    secure = bool(services is not None and services.settings.cookie_secure)
    _set_csrf_cookie(response, token, secure=secure)
    return token


def _tokens_match(cookie: str | None, submitted: str | None) -> bool:
    if not cookie or not submitted:
        return False
    return hmac.compare_digest(cookie.encode(), submitted.encode())


def verify_csrf_header(request: Request) -> None:
    """For cookie-authenticated JSON requests: header must equal cookie (403 otherwise)."""
    if request.method in SAFE_METHODS:
        return
    if not _tokens_match(request.cookies.get(CSRF_COOKIE), request.headers.get(CSRF_HEADER)):
        raise ApiError(403, "CSRF token missing or invalid", type="csrf_failed")


def verify_csrf_form(request: Request, token: str | None) -> None:
    """For HTML form posts: the form's hidden token must equal the CSRF cookie."""
    if not _tokens_match(request.cookies.get(CSRF_COOKIE), token):
        raise ApiError(403, "CSRF token missing or invalid", type="csrf_failed")
