"""Row-level security for the tables migration 0002 left open: users, audit_log, app_settings
(migration 0005). With it every table of the schema is under RLS; tests/db/test_rls_every_table
fails the suite when a new table is not.

Rules (contexts as in modelreg.db.rls: the actor's id and role, set per transaction):

- users: a user reads and updates their own row; admin/system read and write all. Only
  admin/system may change a role, the active flag, a username or an id: a trigger refuses it
  otherwise (RLS cannot compare a row with its old value). Signing in and resolving a token
  or a session happen before the app knows who is asking: those lookups run in the `system`
  context (AccountService).
- audit_log: append-only for the application role. Anyone in a context may add rows in
  their own name (system in any name); only admin/system read; UPDATE and DELETE are not
  granted at all, so no context can rewrite or remove history.
- app_settings: admin/system read and write. The cache generations (`cache_generation:*`,
  modelreg.invalidation) are bumped in the same transaction as any write, a user's own ones
  included, so they are readable and writable from every context; their value is random and
  its only effect is that caches refresh.
- alembic_version is the migrator's: the application role may read it (a start asks whether
  the schema is at head), not write it. It is the one table without RLS.

RLS confines SQL that runs in a given context (a query that forgets its owner filter). It is
not a defence against arbitrary SQL as `modelreg_app`: such SQL could set its own context.
"""

from __future__ import annotations

from typing import Final

from modelreg.db.rls import APP_ROLE, Policy, drop_policy_statements, policy_statements

__all__ = ["RLS_EXEMPT_TABLES", "disable_sql", "enable_sql"]

# tables without RLS, each with the reason in the module docstring
RLS_EXEMPT_TABLES: Final = frozenset({"alembic_version"})

_TABLES: Final = ("users", "audit_log", "app_settings")
_ADMIN = "modelreg_role() IN ('admin', 'system')"
_IN_CONTEXT = "modelreg_role() IN ('user', 'admin', 'system')"
_SELF = "id = modelreg_uid()"
_GENERATION = "key LIKE 'cache_generation:%'"
_SETTING = f"{_ADMIN} OR ({_GENERATION} AND {_IN_CONTEXT})"

_POLICIES: Final[tuple[Policy, ...]] = (
    ("users", "users_read", "SELECT", f"{_SELF} OR {_ADMIN}", None),
    ("users", "users_insert", "INSERT", None, _ADMIN),
    ("users", "users_update", "UPDATE", f"{_SELF} OR {_ADMIN}", f"{_SELF} OR {_ADMIN}"),
    ("users", "users_delete", "DELETE", _ADMIN, None),
    ("audit_log", "audit_read", "SELECT", _ADMIN, None),
    (
        "audit_log",
        "audit_append",
        "INSERT",
        None,
        f"modelreg_role() = 'system' OR ({_IN_CONTEXT} AND actor_id = modelreg_uid())",
    ),
    ("app_settings", "settings_read", "SELECT", _SETTING, None),
    ("app_settings", "settings_insert", "INSERT", None, _SETTING),
    (
        "app_settings",
        "settings_update",
        "UPDATE",
        _SETTING,
        _SETTING,
    ),
    ("app_settings", "settings_delete", "DELETE", _ADMIN, None),
)  # fmt: skip

# superusers bypass RLS, and so this trigger: an operator's manual fix needs no context
_USERS_GUARD: Final = (
    """CREATE OR REPLACE FUNCTION modelreg_users_guard() RETURNS trigger LANGUAGE plpgsql AS
    $$
    BEGIN
      IF (NEW.role, NEW.is_active, NEW.username, NEW.id)
           IS DISTINCT FROM (OLD.role, OLD.is_active, OLD.username, OLD.id)
         AND modelreg_role() NOT IN ('admin', 'system')
         AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'only admins may change a role, the active flag or a username'
          USING ERRCODE = 'insufficient_privilege';
      END IF;
      RETURN NEW;
    END
    $$""",
    "CREATE TRIGGER users_guard BEFORE UPDATE ON users"
    " FOR EACH ROW EXECUTE FUNCTION modelreg_users_guard()",
)


def enable_sql() -> list[str]:
    """The statements of migration 0005, in order."""
    statements = [
        # append-only: the policies never see an UPDATE or DELETE that is not granted
        f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {APP_ROLE}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {APP_ROLE}",
        *_USERS_GUARD,
    ]
    return [*statements, *policy_statements(_TABLES, _POLICIES)]


def disable_sql() -> list[str]:
    statements = drop_policy_statements(_TABLES, _POLICIES)
    statements += [
        "DROP TRIGGER IF EXISTS users_guard ON users",
        "DROP FUNCTION IF EXISTS modelreg_users_guard()",
        f"GRANT INSERT, UPDATE, DELETE ON alembic_version TO {APP_ROLE}",
        f"GRANT UPDATE, DELETE ON audit_log TO {APP_ROLE}",
    ]
    return statements
