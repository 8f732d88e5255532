"""Row-level security on PostgreSQL: the app role, the per-transaction context, the policies.

How it fits together:

- The migration creates the role `modelreg_app` (NOLOGIN) and grants it DML on the tables.
  Superusers and table owners bypass RLS, so every application transaction switches to this
  role with `set_config('role', 'modelreg_app', true)`. The login role in
  MODELREG_DATABASE_URL must therefore be a member of `modelreg_app` (the migration grants
  that to the role that runs it). An operator may also connect as a dedicated LOGIN role that
  is a member of `modelreg_app` and owns nothing.
- Who is asking travels in two transaction-local settings, `modelreg.user_id` and
  `modelreg.role`, set in the same statement.
- The policies read them through `modelreg_uid()` / `modelreg_role()`; an unset context means
  no user and no role, which sees no private rows at all.

Rules (the service layer applies the same ones on SQLite):
- llm_models: everyone sees global models and their own; only admin/system write globals;
  system (bootstrap, key rotation, fallbacks) sees and writes everything.
- conversations, messages: only the owner (and system).
- usage_events: the owner writes and reads; admin/system read all (analytics).
- api_tokens: the owner, and admin/system (token management).
- usage_daily (the rollup of usage_events, migration 0003): the owner reads, admin/system
  read all; only system (the usage recorder) writes.
- user_sessions (browser sessions, migration 0004): the owner, and admin/system (a cookie is
  looked up as system, since who is asking is what the lookup finds out).
"""

from __future__ import annotations

from typing import Final

from modelreg.actor import Actor

__all__ = [
    "APP_ROLE",
    "RLS_TABLES",
    "Policy",
    "disable_message_images_rls_sql",
    "disable_rls_sql",
    "disable_usage_daily_rls_sql",
    "disable_user_sessions_rls_sql",
    "drop_policy_statements",
    "enable_message_images_rls_sql",
    "enable_rls_sql",
    "enable_usage_daily_rls_sql",
    "enable_user_sessions_rls_sql",
    "policy_statements",
    "rls_context_sql",
]

APP_ROLE: Final = "modelreg_app"
RLS_TABLES: Final = ("llm_models", "conversations", "messages", "usage_events", "api_tokens")


def rls_context_sql(actor: Actor, app_role: str | None) -> tuple[str, dict[str, str]]:
    """One statement that sets the role and the actor for the current transaction only."""
    params = {"uid": str(actor.id) if actor.id else "", "role": actor.role}
    sets = [
        "set_config('modelreg.user_id', :uid, true)",
        "set_config('modelreg.role', :role, true)",
    ]
    if app_role:
        params["app_role"] = app_role
        sets.append("set_config('role', :app_role, true)")
    return "SELECT " + ", ".join(sets), params


# asyncpg runs one statement per call, so these are separate strings
_FUNCTIONS: Final = (
    """CREATE OR REPLACE FUNCTION modelreg_uid() RETURNS uuid LANGUAGE sql STABLE AS
    $$ SELECT NULLIF(current_setting('modelreg.user_id', true), '')::uuid $$""",
    """CREATE OR REPLACE FUNCTION modelreg_role() RETURNS text LANGUAGE sql STABLE AS
    $$ SELECT COALESCE(NULLIF(current_setting('modelreg.role', true), ''), 'none') $$""",
)

_ROLE: Final = (
    # roles are cluster-wide: another database of the same cluster may have created it
    f"""DO $$
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        CREATE ROLE {APP_ROLE} NOLOGIN;
      END IF;
      IF NOT pg_has_role(current_user, '{APP_ROLE}', 'MEMBER') THEN
        EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
      END IF;
    END
    $$""",  # noqa: S608 - built from constants only
    f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}",
    f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}",
    f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}",
    # tables added by later migrations get the same grants
    f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
    f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}",
    f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}",
)

_SYSTEM = "modelreg_role() = 'system'"
_ADMIN = "modelreg_role() IN ('admin', 'system')"
_OWNER = "user_id = modelreg_uid()"

# (table, policy name, command, USING, WITH CHECK)
# (table, policy name, command, USING, WITH CHECK)
Policy = tuple[str, str, str, str | None, str | None]
_POLICIES: Final[tuple[Policy, ...]] = (
    ("llm_models", "models_read", "SELECT", f"user_id IS NULL OR {_OWNER} OR {_SYSTEM}", None),
    (
        "llm_models",
        "models_insert",
        "INSERT",
        None,
        f"(user_id IS NULL AND {_ADMIN}) OR {_OWNER} OR {_SYSTEM}",
    ),
    (
        "llm_models",
        "models_update",
        "UPDATE",
        f"(user_id IS NULL AND {_ADMIN}) OR {_OWNER} OR {_SYSTEM}",
        f"(user_id IS NULL AND {_ADMIN}) OR {_OWNER} OR {_SYSTEM}",
    ),
    (
        "llm_models",
        "models_delete",
        "DELETE",
        f"(user_id IS NULL AND {_ADMIN}) OR {_OWNER} OR {_SYSTEM}",
        None,
    ),
    ("conversations", "conversations_owner", "ALL", f"{_OWNER} OR {_SYSTEM}", None),
    ("messages", "messages_owner", "ALL", f"{_OWNER} OR {_SYSTEM}", None),
    ("usage_events", "usage_read", "SELECT", f"{_OWNER} OR {_ADMIN}", None),
    ("usage_events", "usage_insert", "INSERT", None, f"{_OWNER} OR {_SYSTEM}"),
    ("usage_events", "usage_change", "UPDATE", f"{_OWNER} OR {_SYSTEM}", None),
    ("usage_events", "usage_delete", "DELETE", f"{_OWNER} OR {_SYSTEM}", None),
    ("api_tokens", "tokens_owner_or_admin", "ALL", f"{_OWNER} OR {_ADMIN}", None),
)


# usage_daily comes with migration 0003; kept apart so that 0002 stays what it was
_USAGE_DAILY_POLICIES: Final[tuple[Policy, ...]] = (
    ("usage_daily", "usage_daily_read", "SELECT", f"{_OWNER} OR {_ADMIN}", None),
    ("usage_daily", "usage_daily_insert", "INSERT", None, _SYSTEM),
    ("usage_daily", "usage_daily_change", "UPDATE", _SYSTEM, _SYSTEM),
    ("usage_daily", "usage_daily_delete", "DELETE", _SYSTEM, None),
)


def policy_statements(tables: tuple[str, ...], policies: tuple[Policy, ...]) -> list[str]:
    """RLS enabled and forced on `tables`, and `policies` created (also for later migrations)."""
    statements = []
    for table in tables:
        statements.append(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        # FORCE: the table owner (who runs the migrations) is bound by the policies too
        statements.append(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    for table, name, command, using, check in policies:
        sql = f"CREATE POLICY {name} ON {table} FOR {command}"
        if using:
            sql += f" USING ({using})"
        if check:
            sql += f" WITH CHECK ({check})"
        statements.append(sql)
    return statements


def drop_policy_statements(tables: tuple[str, ...], policies: tuple[Policy, ...]) -> list[str]:
    """What `policy_statements` did, undone."""
    statements = [f"DROP POLICY IF EXISTS {name} ON {table}" for table, name, *_ in policies]
    for table in tables:
        statements.append(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        statements.append(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    return statements


def enable_rls_sql() -> list[str]:
    """The statements of the RLS migration, in order."""
    return [*_FUNCTIONS, *_ROLE, *policy_statements(RLS_TABLES, _POLICIES)]


def disable_rls_sql() -> list[str]:
    return [
        *drop_policy_statements(RLS_TABLES, _POLICIES),
        "DROP FUNCTION IF EXISTS modelreg_uid()",
        "DROP FUNCTION IF EXISTS modelreg_role()",
    ]


def enable_usage_daily_rls_sql() -> list[str]:
    """Grants and policies of usage_daily (migration 0003). The explicit grant: the default
    privileges of 0002 cover only tables created by the role that ran 0002."""
    return [
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON usage_daily TO {APP_ROLE}",
        *policy_statements(("usage_daily",), _USAGE_DAILY_POLICIES),
    ]


def disable_usage_daily_rls_sql() -> list[str]:
    return drop_policy_statements(("usage_daily",), _USAGE_DAILY_POLICIES)


# user_sessions comes with migration 0004
_USER_SESSIONS_POLICIES: Final[tuple[Policy, ...]] = (
    ("user_sessions", "user_sessions_owner_or_admin", "ALL", f"{_OWNER} OR {_ADMIN}", None),
)


def enable_user_sessions_rls_sql() -> list[str]:
    """Grants and policies of user_sessions (migration 0004); explicit grant as for 0003."""
    return [
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON user_sessions TO {APP_ROLE}",
        *policy_statements(("user_sessions",), _USER_SESSIONS_POLICIES),
    ]


def disable_user_sessions_rls_sql() -> list[str]:
    return drop_policy_statements(("user_sessions",), _USER_SESSIONS_POLICIES)


# message_images comes with migration 0011: the owner's, like messages
_MESSAGE_IMAGES_POLICIES: Final[tuple[Policy, ...]] = (
    ("message_images", "message_images_owner", "ALL", f"{_OWNER} OR {_SYSTEM}", None),
)


def enable_message_images_rls_sql() -> list[str]:
    return [
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON message_images TO {APP_ROLE}",
        *policy_statements(("message_images",), _MESSAGE_IMAGES_POLICIES),
    ]


def disable_message_images_rls_sql() -> list[str]:
    return drop_policy_statements(("message_images",), _MESSAGE_IMAGES_POLICIES)
