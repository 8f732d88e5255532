"""Row-level security of `arena_votes` (migration 0010), contexts as in modelreg.db.rls.

- A user creates, reads and votes on their own battles; admin/system read all.
- The company-wide leaderboard sums every user's votes on company models: it reads in the
  `system` context and returns only the aggregate (no user, no prompt).
- Nobody else's battle can be read or voted on: a vote on one answers 404 like a missing one.
"""

from __future__ import annotations

from typing import Final

from modelreg.db.rls import APP_ROLE, Policy, drop_policy_statements, policy_statements

__all__ = ["disable_sql", "enable_sql"]

_OWNER = "user_id = modelreg_uid()"
_SYSTEM = "modelreg_role() = 'system'"
_ADMIN = "modelreg_role() IN ('admin', 'system')"

_POLICIES: Final[tuple[Policy, ...]] = (
    ("arena_votes", "arena_votes_read", "SELECT", f"{_OWNER} OR {_ADMIN}", None),
    ("arena_votes", "arena_votes_insert", "INSERT", None, f"{_OWNER} OR {_SYSTEM}"),
    ("arena_votes", "arena_votes_update", "UPDATE", f"{_OWNER} OR {_SYSTEM}",
     f"{_OWNER} OR {_SYSTEM}"),
    ("arena_votes", "arena_votes_delete", "DELETE", f"{_OWNER} OR {_ADMIN}", None),
)  # fmt: skip


def enable_sql() -> list[str]:
    """Grants and policies (explicit grant: see enable_usage_daily_rls_sql)."""
    return [
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON arena_votes TO {APP_ROLE}",
        *policy_statements(("arena_votes",), _POLICIES),
    ]


def disable_sql() -> list[str]:
    return drop_policy_statements(("arena_votes",), _POLICIES)
