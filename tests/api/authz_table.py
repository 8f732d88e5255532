"""Who may call what: every route of the app (the OpenAPI document, the pages and the
framework's own routes) × six callers, with the status each must get.

`test_authz_matrix.py` generates one test per row and caller from this table, over real
HTTP, and fails when the app has a route without a row here (or a row names a route the app
no longer has). A new route therefore needs a line below before the suite passes.

Callers (`ROLES`):
- `anonymous`: no credentials at all;
- `bad_token`: a syntactically plausible token (or, on pages, a forged session cookie);
- `expired_token`: a real token past its `expires_at`, used once while still valid so the
  token cache holds it (on pages: a correctly signed session cookie older than its max age);
- `user_a`, `user_b`: ordinary users; a path parameter always names **A's** resource, so
  `user_b` is "someone else" and must get 404 (never 403: existence stays hidden);
- `admin`.

How the credentials travel depends on the surface of the row:
- `api` (/api/*): as a bearer token, and again as a session cookie (with the CSRF header on
  unsafe methods; without it every unsafe method must be 403 `csrf_failed`);
- `v1` (/v1/*): as a bearer token (what the SDKs send);
- `page`: as the session cookie only (pages never read tokens);
- `public`: as a bearer token, which the route must ignore.

`target` names what fills the path parameter (and the body, see `bodies` in the test):
`model` (A's personal model), `global_model` (an admin's company model), `token` (A's token),
`conversation` (A's), `model_name` (A's model by name), `user` (a user made for the case:
admins disable, reset and delete it), `experiment` (A's running A/B experiment),
`global_experiment` (an admin's running company experiment), `battle` (A's arena battle);
`answer`, `question` and `image` fill two path parameters: A's conversation and in it an
answer, a user message or an image; `budget` (a user budget A set for herself); `message`
(an answer in A's conversation), `response` (the request id of A's gateway call).
`missing` is what `user_a` gets for a well-formed id that does not exist. Statuses:
200/201/204 exact, 303 a redirect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = ["ROLES", "TABLE", "Row"]

Role = Literal["anonymous", "bad_token", "expired_token", "user_a", "user_b", "admin"]
ROLES: Final[tuple[Role, ...]] = (
    "anonymous",
    "bad_token",
    "expired_token",
    "user_a",
    "user_b",
    "admin",
)
Surface = Literal["api", "v1", "page", "public"]
Target = Literal[
    "model",
    "global_model",
    "token",
    "conversation",
    "model_name",
    "user",
    "experiment",
    "global_experiment",
    "battle",
    "answer",
    "question",
    "image",
    "budget",
    "collection",
    "document",
    "message",
    "response",
]


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    surface: Surface
    # statuses in ROLES order: anonymous, bad_token, expired_token, user_a, user_b, admin
    statuses: tuple[int, int, int, int, int, int]
    target: Target | None = None
    missing: int | None = None
    variant: str = ""  # a second row for the same route: what differs (body, query, target)
    query: Mapping[str, str] = field(default_factory=dict)

    @property
    def expect(self) -> dict[Role, int]:
        return dict(zip(ROLES, self.statuses, strict=True))

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}" + (f" [{self.variant}]" if self.variant else "")


U = 401  # unauthenticated: no, wrong or expired credentials
F = 403  # forbidden: an admin-only route, or a user changing a company model
N = 404  # someone else's resource, answered like a missing one
L = 303  # pages: a redirect (to /login when signed out)

# fmt: off
TABLE: Final[tuple[Row, ...]] = (
    # --- operations -------------------------------------------------------------------
    Row("GET", "/healthz", "public", (200, 200, 200, 200, 200, 200)),
    Row("GET", "/readyz", "public", (200, 200, 200, 200, 200, 200)),
    Row("GET", "/metrics", "api", (U, U, U, F, F, 200)),
    # --- registry ---------------------------------------------------------------------
    Row("GET", "/api/models", "api", (U, U, U, 200, 200, 200)),
    Row("POST", "/api/models", "api", (U, U, U, 201, 201, 201)),
    Row("POST", "/api/models", "api", (U, U, U, F, F, 201), variant="is_global"),
    Row("GET", "/api/models/templates", "api", (U, U, U, 200, 200, 200)),
    Row("POST", "/api/models/from-template", "api", (U, U, U, 201, 201, 201)),
    Row("POST", "/api/models/test-connection", "api", (U, U, U, 200, N, N),
        target="model", missing=N),
    Row("POST", "/api/models/test-connection", "api", (U, U, U, 200, 200, 200),
        variant="draft"),
    Row("GET", "/api/models/{model_id}", "api", (U, U, U, 200, N, N),
        target="model", missing=N),
    Row("PATCH", "/api/models/{model_id}", "api", (U, U, U, 200, N, N),
        target="model", missing=N),
    Row("DELETE", "/api/models/{model_id}", "api", (U, U, U, 204, N, N),
        target="model", missing=N),
    Row("GET", "/api/models/{model_id}", "api", (U, U, U, 200, 200, 200),
        target="global_model", variant="global"),
    Row("PATCH", "/api/models/{model_id}", "api", (U, U, U, F, F, 200),
        target="global_model", variant="global"),
    Row("DELETE", "/api/models/{model_id}", "api", (U, U, U, F, F, 204),
        target="global_model", variant="global"),
    # --- users, tokens, audit, usage ---------------------------------------------------
    Row("GET", "/api/users", "api", (U, U, U, F, F, 200)),
    Row("POST", "/api/users", "api", (U, U, U, F, F, 201)),
    Row("GET", "/api/users/me", "api", (U, U, U, 200, 200, 200)),
    Row("PATCH", "/api/users/me", "api", (U, U, U, 200, N, N), target="model", missing=N),
    # the body's current password is wrong: every signed-in caller reaches the check (422)
    Row("POST", "/api/users/me/password", "api", (U, U, U, 422, 422, 422)),
    Row("PATCH", "/api/users/{user_id}", "api", (U, U, U, F, F, 200), target="user", missing=F),
    Row("POST", "/api/users/{user_id}/password", "api", (U, U, U, F, F, 204), target="user",
        missing=F),
    Row("DELETE", "/api/users/{user_id}", "api", (U, U, U, F, F, 204), target="user", missing=F),
    Row("GET", "/api/personal-models", "api", (U, U, U, F, F, 200)),
    Row("GET", "/api/tokens", "api", (U, U, U, 200, 200, 200)),
    Row("POST", "/api/tokens", "api", (U, U, U, 201, 201, 201)),
    # admins may revoke anyone's token (a leaked token must be stoppable); users get 404
    Row("DELETE", "/api/tokens/{token_id}", "api", (U, U, U, 204, N, 204),
        target="token", missing=N),
    Row("GET", "/api/audit", "api", (U, U, U, F, F, 200)),
    Row("GET", "/api/usage", "api", (U, U, U, 200, 200, 200)),
    Row("GET", "/api/usage", "api", (U, U, U, F, F, 200), variant="group_by=user",
        query={"group_by": "user"}),
    Row("GET", "/api/usage", "api", (U, U, U, 200, F, 200), variant="user_id=A",
        query={"user_id": "{user_a_id}"}),
    # --- budgets: a user sets her own; company-wide ones are the admins' -------------------
    Row("GET", "/api/budgets", "api", (U, U, U, 200, 200, 200)),
    Row("POST", "/api/budgets", "api", (U, U, U, 201, 201, 201)),
    Row("POST", "/api/budgets", "api", (U, U, U, F, F, 201), variant="global"),
    Row("GET", "/api/budgets/{budget_id}", "api", (U, U, U, 200, N, 200),
        target="budget", missing=N),
    Row("PATCH", "/api/budgets/{budget_id}", "api", (U, U, U, 200, N, 200),
        target="budget", missing=N),
    Row("DELETE", "/api/budgets/{budget_id}", "api", (U, U, U, 204, N, 204),
        target="budget", missing=N),
    # --- analytics and feedback ----------------------------------------------------------
    Row("GET", "/api/analytics/models", "api", (U, U, U, 200, 200, 200)),
    Row("GET", "/api/analytics/models", "api", (U, U, U, 200, F, 200), variant="user_id=A",
        query={"user_id": "{user_a_id}"}),
    Row("GET", "/api/analytics/models.csv", "api", (U, U, U, 200, 200, 200)),
    Row("POST", "/api/messages/{message_id}/feedback", "api", (U, U, U, 200, N, N),
        target="message", missing=N),
    Row("DELETE", "/api/messages/{message_id}/feedback", "api", (U, U, U, 204, N, N),
        target="message", missing=N),
    Row("GET", "/api/conversations/{conversation_id}/feedback", "api", (U, U, U, 200, N, N),
        target="conversation", missing=N),
    Row("POST", "/api/responses/{response_id}/feedback", "api", (U, U, U, 200, N, N),
        target="response", missing=N),
    Row("DELETE", "/api/responses/{response_id}/feedback", "api", (U, U, U, 204, N, N),
        target="response", missing=N),
    # --- chat and conversations ---------------------------------------------------------
    Row("POST", "/api/chat", "api", (U, U, U, 200, N, N), target="model"),
    Row("POST", "/api/chat", "api", (U, U, U, 200, N, N), target="conversation",
        variant="conversation", missing=N),
    Row("POST", "/api/chat/compare", "api", (U, U, U, 200, N, N), target="model"),
    # --- compare and the blind arena ----------------------------------------------------
    Row("POST", "/api/arena/battles", "api", (U, U, U, 200, 200, 200), target="global_model"),
    Row("POST", "/api/arena/battles/{battle_id}/vote", "api", (U, U, U, 200, N, N),
        target="battle", missing=N),
    Row("GET", "/api/arena/leaderboard", "api", (U, U, U, 200, 200, 200)),
    Row("GET", "/api/conversations", "api", (U, U, U, 200, 200, 200)),
    Row("POST", "/api/conversations", "api", (U, U, U, 201, 201, 201)),
    Row("GET", "/api/conversations/{conversation_id}", "api", (U, U, U, 200, N, N),
        target="conversation", missing=N),
    Row("PATCH", "/api/conversations/{conversation_id}", "api", (U, U, U, 200, N, N),
        target="conversation", missing=N),
    Row("DELETE", "/api/conversations/{conversation_id}", "api", (U, U, U, 204, N, N),
        target="conversation", missing=N),
    # --- A/B experiments ----------------------------------------------------------------
    Row("GET", "/api/experiments", "api", (U, U, U, 200, 200, 200)),
    Row("POST", "/api/experiments", "api", (U, U, U, 201, 201, 201)),
    Row("POST", "/api/experiments", "api", (U, U, U, F, F, 201), variant="is_global"),
    *(
        Row(method, f"/api/experiments/{{experiment_id}}{tail}", "api", (U, U, U, ok, N, N),
            target="experiment", missing=N)
        for method, tail, ok in (
            ("GET", "", 200), ("PATCH", "", 200), ("DELETE", "", 204), ("GET", "/results", 200),
            ("POST", "/start", 200), ("POST", "/pause", 200), ("POST", "/stop", 200),
        )
    ),
    # a company experiment: read by everyone, changed by admins only
    *(
        Row(method, f"/api/experiments/{{experiment_id}}{tail}", "api", statuses,
            target="global_experiment", variant="global")
        for method, tail, statuses in (
            ("GET", "", (U, U, U, 200, 200, 200)),
            ("GET", "/results", (U, U, U, 200, 200, 200)),
            ("PATCH", "", (U, U, U, F, F, 200)),
            ("DELETE", "", (U, U, U, F, F, 204)),
            ("POST", "/start", (U, U, U, F, F, 200)),
            ("POST", "/pause", (U, U, U, F, F, 200)),
            ("POST", "/stop", (U, U, U, F, F, 200)),
        )
    ),
    Row("GET", "/api/conversations", "api", (U, U, U, 200, 200, 200), variant="search",
        query={"q": "hello"}),
    Row("GET", "/api/conversations/{conversation_id}/settings", "api", (U, U, U, 200, N, N),
        target="conversation", missing=N),
    Row("PUT", "/api/conversations/{conversation_id}/settings", "api", (U, U, U, 200, N, N),
        target="conversation", missing=N),
    Row("GET", "/api/conversations/{conversation_id}/export", "api", (U, U, U, 200, N, N),
        target="conversation", missing=N),
    Row("GET", "/api/conversations/{conversation_id}/images/{image_id}", "api",
        (U, U, U, 200, N, N), target="image", missing=N),
    Row("POST", "/api/conversations/{conversation_id}/messages/{message_id}/regenerate", "api",
        (U, U, U, 200, N, N), target="answer", missing=N),
    Row("POST", "/api/conversations/{conversation_id}/messages/{message_id}/edit", "api",
        (U, U, U, 200, N, N), target="question", missing=N),
    Row("PUT", "/api/conversations/{conversation_id}/messages/{message_id}/selected", "api",
        (U, U, U, 204, N, N), target="answer", missing=N),
    # --- knowledge (a collection is A's, on a company embedding model) -------------------
    Row("GET", "/api/collections", "api", (U, U, U, 200, 200, 200)),
    Row("POST", "/api/collections", "api", (U, U, U, 201, 201, 201)),
    Row("POST", "/api/collections", "api", (U, U, U, F, F, 201), variant="is_global"),
    Row("GET", "/api/collections/{collection_id}", "api", (U, U, U, 200, N, N),
        target="collection", missing=N),
    Row("PATCH", "/api/collections/{collection_id}", "api", (U, U, U, 200, N, N),
        target="collection", missing=N),
    Row("DELETE", "/api/collections/{collection_id}", "api", (U, U, U, 204, N, N),
        target="collection", missing=N),
    Row("GET", "/api/collections/{collection_id}/documents", "api", (U, U, U, 200, N, N),
        target="collection", missing=N),
    Row("POST", "/api/collections/{collection_id}/documents", "api", (U, U, U, 201, N, N),
        target="collection", missing=N),
    Row("POST", "/api/collections/{collection_id}/query", "api", (U, U, U, 200, N, N),
        target="collection", missing=N),
    Row("GET", "/api/documents/{document_id}", "api", (U, U, U, 200, N, N),
        target="document", missing=N),
    Row("DELETE", "/api/documents/{document_id}", "api", (U, U, U, 204, N, N),
        target="document", missing=N),
    # --- gateway (tokens) ---------------------------------------------------------------
    Row("GET", "/v1/models", "v1", (U, U, U, 200, 200, 200)),
    Row("GET", "/v1/models/{model}", "v1", (U, U, U, 200, N, N),
        target="model_name", missing=N),
    Row("POST", "/v1/chat/completions", "v1", (U, U, U, 200, N, N), target="model_name"),
    Row("POST", "/v1/chat/completions", "v1", (U, U, U, 200, 200, 200),
        target="global_model", variant="global"),
    Row("POST", "/v1/embeddings", "v1", (U, U, U, 200, N, N), target="model_name"),
    Row("POST", "/v1/messages/count_tokens", "v1", (U, U, U, 200, N, N), target="model_name"),
    Row("POST", "/v1/messages", "v1", (U, U, U, 200, N, N), target="model_name"),
    # --- pages (session cookie) ---------------------------------------------------------
    Row("GET", "/login", "page", (200, 200, 200, L, L, L)),
    Row("POST", "/login", "page", (L, L, L, L, L, L)),  # signs in as A whoever asks
    Row("POST", "/logout", "page", (L, L, L, L, L, L)),
    Row("GET", "/", "page", (L, L, L, 200, 200, 200)),
    Row("GET", "/models", "page", (L, L, L, 200, 200, 200)),
    Row("GET", "/account", "page", (L, L, L, 200, 200, 200)),
    Row("GET", "/knowledge", "page", (L, L, L, 200, 200, 200)),
    Row("GET", "/users", "page", (L, L, L, F, F, 200)),
    Row("GET", "/audit", "page", (L, L, L, F, F, 200)),
    Row("GET", "/experiments", "page", (L, L, L, 200, 200, 200)),
    Row("GET", "/compare", "page", (L, L, L, 200, 200, 200)),
    Row("GET", "/analytics", "page", (L, L, L, 200, 200, 200)),
    Row("GET", "/usage", "page", (L, L, L, 200, 200, 200)),
    # --- the framework's and static files -------------------------------------------------
    Row("GET", "/openapi.json", "public", (200, 200, 200, 200, 200, 200)),
    # /docs and /redoc exist only with MODELREG_API_DOCS=true (off by default; public then)
    Row("GET", "/static/{path}", "public", (200, 200, 200, 200, 200, 200)),
)
# fmt: on
