"""The browser pages: /login, /logout, / (chat), /models, /experiments, /account, /users and
/audit (admins).

Pages are server-rendered shells (Jinja2, autoescaped); the data comes from the JSON API through
small ES modules in ./static, using the same session cookie plus the double-submit CSRF header.
A page request without a valid session redirects to /login instead of answering 401, so an
expired or ended session (logout, password change, user disabled: modelreg.sessions) in a
browser ends on the login form.

The app factory includes `router` and mounts `STATIC_DIR` at /static (name "static").
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from modelreg.actor import Actor
from modelreg.api.auth import (
    clear_session,
    ensure_csrf_cookie,
    issue_session,
    read_session,
    session_csrf_token,
)
from modelreg.api.auth import verify_csrf_form as _verify_csrf_form
from modelreg.api.deps import get_services
from modelreg.api.errors import ApiError
from modelreg.errors import RateLimitedError, ServiceUnavailableError

if TYPE_CHECKING:
    from jinja2 import Environment

__all__ = ["STATIC_DIR", "TEMPLATE_DIR", "router"]

WEB_DIR: Final = Path(__file__).parent
STATIC_DIR: Final = WEB_DIR / "static"
TEMPLATE_DIR: Final = WEB_DIR / "templates"

Page = Literal[
    "chat",
    "models",
    "users",
    "audit",
    "account",
    "experiments",
    "compare",
    "knowledge",
    "analytics",
    "usage",
]

router = APIRouter(include_in_schema=False)


@lru_cache(maxsize=64)
def _asset_version(name: str) -> str:
    """A content hash for cache busting; computed once per file per process."""
    try:
        return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


def static_url(name: str) -> str:
    return f"/static/{name}?v={_asset_version(name)}"


@lru_cache(maxsize=1)
def import_map() -> str:
    """An import map that versions every module, so that `import "./api.js"` inside a module
    fetches the current file after an upgrade and every page shares one instance of it."""
    names = sorted(p.relative_to(STATIC_DIR).as_posix() for p in STATIC_DIR.rglob("*.js"))
    imports = {f"/static/{name}": static_url(name) for name in names}
    return json.dumps({"imports": imports}, separators=(",", ":"))


@lru_cache(maxsize=1)
def _environment() -> Environment:
    """Built at the first page request, not at import: a server that only answers the API
    and the gateway never imports Jinja2 (2 MB, 40 ms of a start)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_url"] = static_url
    env.globals["import_map"] = import_map
    return env


# A second line of defence behind the escaping: only our own scripts run (the inline import map
# and module loaders carry the per-response nonce), nothing is framed, no plugins, forms post
# only here. Inline style attributes are not used; the favicon is a data: URL.
_CSP: Final = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def _render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    csrf_token: str | None = None,
) -> HTMLResponse:
    """`csrf_token`: the signed-in session's token; None before sign-in."""
    # ensure_csrf_cookie writes its cookie onto the response it is given; the page needs the
    # token before rendering, so collect the cookie on a scratch response and copy it over
    scratch = Response()
    token = ensure_csrf_cookie(request, scratch, csrf_token)
    nonce = secrets.token_urlsafe(16)
    page = _environment().get_template(template)
    html = page.render({**context, "csrf_token": token, "csp_nonce": nonce})
    response = HTMLResponse(html, status_code=status_code)
    response.raw_headers.extend(h for h in scratch.raw_headers if h[0] == b"set-cookie")
    # personalised pages must not be stored by shared caches or the back-forward cache
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = _CSP.format(nonce=nonce)
    return response


def _safe_next(target: str | None) -> str:
    """Only same-site paths: "/x" yes; "//evil.example", "/\\evil", "https://..." no."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ch in target for ch in "\r\n\t"):
        return "/"
    return target


async def _page_session(request: Request) -> tuple[Actor, str] | None:
    """The signed-in user and their session's CSRF token for a page request, or None
    (never a 401: pages redirect)."""
    services = get_services(request)
    session_id = read_session(request, services.settings)
    actor = await services.accounts.session_actor(session_id) if session_id else None
    if actor is None or session_id is None:
        return None
    return actor, session_csrf_token(services.settings, session_id)


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = "/login" if target == "/" else f"/login?next={quote(target, safe='')}"
    return RedirectResponse(location, status_code=303)


async def _page(request: Request, page: Page, title: str, *, admin: bool = False) -> Response:
    signed_in = await _page_session(request)
    if signed_in is None:
        return _to_login(request)
    actor, csrf = signed_in
    if admin and not actor.is_admin:
        context = {"actor": actor, "active": page, "title": "Not allowed"}
        return _render(request, "forbidden.html", context, status_code=403, csrf_token=csrf)
    context = {"actor": actor, "active": page, "title": title}
    template = "analytics.html" if page == "usage" else f"{page}.html"  # one page, two modes
    return _render(request, template, context, csrf_token=csrf)


# --- login / logout ---------------------------------------------------------------------


def _login_form(
    request: Request,
    *,
    next_url: str,
    username: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {"next_url": next_url, "username": username, "error": error}
    return _render(request, "login.html", context, status_code=status_code)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/") -> Response:
    if await _page_session(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_form(request, next_url=_safe_next(next))


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    next_url = _safe_next(next)
    try:
        _verify_csrf_form(request, csrf_token)
    except ApiError:
        # typically a form left open across a restart or with cookies cleared: just retry
        return _login_form(
            request,
            next_url=next_url,
            username=username,
            error="Your sign-in form expired. Please try again.",
            status_code=400,
        )
    services = get_services(request)
    try:
        client_ip = request.client.host if request.client else "unknown"
        await services.limiter.check_login(username.strip(), client_ip)
        actor = (
            await services.accounts.authenticate_password(username.strip(), password)
            if username.strip() and password
            else None
        )
    except RateLimitedError as exc:
        wait = int(exc.retry_after or 60)
        return _login_form(
            request,
            next_url=next_url,
            username=username,
            error=f"Too many sign-in attempts. Try again in {wait} seconds.",
            status_code=429,
        )
    except ServiceUnavailableError as exc:  # the database, or Redis when failing closed
        wait = max(1, math.ceil(exc.retry_after))
        form = _login_form(
            request,
            next_url=next_url,
            username=username,
            error=f"Sign-in is unavailable for a moment. Try again in {wait} seconds.",
            status_code=503,
        )
        form.headers["Retry-After"] = str(wait)
        return form
    if actor is None:
        return _login_form(
            request,
            next_url=next_url,
            username=username,
            error="Wrong username or password.",
            status_code=401,
        )
    response = RedirectResponse(next_url, status_code=303)
    await issue_session(response, services.accounts, actor, services.settings)
    return response


@router.post("/logout")
async def logout(
    request: Request, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    services = get_services(request)
    session_id = read_session(request, services.settings)
    if session_id and await services.accounts.session_actor(session_id) is not None:
        try:
            expected = session_csrf_token(services.settings, session_id)
            _verify_csrf_form(request, csrf_token, expected)
        except ApiError:
            # a cross-site form cannot log anyone out; send the user back to where they were
            return RedirectResponse("/", status_code=303)
        # ended in the database: the cookie is refused by every process from now on
        await services.accounts.sessions.end(session_id)
    response = RedirectResponse("/login", status_code=303)
    clear_session(response)
    return response


# --- pages ------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def chat_page(request: Request) -> Response:
    return await _page(request, "chat", "Chat")


@router.get("/models", response_class=HTMLResponse)
async def models_page(request: Request) -> Response:
    return await _page(request, "models", "Models")


@router.get("/account", response_class=HTMLResponse)
async def account_page(request: Request) -> Response:
    return await _page(request, "account", "Account")


@router.get("/experiments", response_class=HTMLResponse)
async def experiments_page(request: Request) -> Response:
    return await _page(request, "experiments", "Experiments")


@router.get("/knowledge", response_class=HTMLResponse)
async def knowledge_page(request: Request) -> Response:
    return await _page(request, "knowledge", "Knowledge")


@router.get("/users", response_class=HTMLResponse)
async def users_page(request: Request) -> Response:
    return await _page(request, "users", "Users", admin=True)


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(request: Request) -> Response:
    return await _page(request, "audit", "Audit log", admin=True)


@router.get("/compare", response_class=HTMLResponse)
async def compare_page(request: Request) -> Response:
    return await _page(request, "compare", "Compare")


@router.get("/analytics", response_class=HTMLResponse)
async def analytics_page(request: Request) -> Response:
    return await _page(request, "analytics", "Analytics")


@router.get("/usage", response_class=HTMLResponse)
async def usage_page(request: Request) -> Response:
    return await _page(request, "usage", "Usage")
