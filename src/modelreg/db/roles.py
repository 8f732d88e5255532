"""The least-privilege login role the server connects as on PostgreSQL.

Migrations run as the role that owns the schema (`modelreg db upgrade`). The server should
connect as a LOGIN role that owns nothing and is only a member of `modelreg_app`: row-level
security binds it even after `RESET ROLE`, and it cannot alter a table, drop a policy or
disable a trigger. `modelreg db create-login-role NAME` creates one (docs/operations.md).
"""

from __future__ import annotations

import re
from typing import Final

from modelreg.db.rls import APP_ROLE
from modelreg.errors import ValidationFailedError

__all__ = ["create_login_role"]

# a plain identifier: no quoting surprises in connection URLs or pg_hba.conf
_ROLE_NAME: Final = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


async def create_login_role(url: str, name: str, password: str | None) -> None:
    """Create `name` (LOGIN, no superuser, no CREATEDB/CREATEROLE/BYPASSRLS, member of the
    app role) as the role in `url`, which must be allowed to create roles. `password=None`
    creates a role without a password (peer or certificate authentication)."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.ext.asyncio import create_async_engine

    from modelreg.db.engine import normalize_url

    if not _ROLE_NAME.match(name):
        raise ValidationFailedError(
            "role name: 1-63 lower-case letters, digits or _, not starting with a digit",
            field="name",
        )
    engine = create_async_engine(normalize_url(url))
    try:
        async with engine.begin() as conn:
            exists = "SELECT 1 FROM pg_roles WHERE rolname = :name"
            if await conn.scalar(text(exists), {"name": name}):
                raise ValidationFailedError(f"role {name!r} exists", field="name")
            if not await conn.scalar(text(exists), {"name": APP_ROLE}):
                raise ValidationFailedError(
                    f"role {APP_ROLE!r} does not exist: run `modelreg db upgrade` first",
                    field="database_url",
                )
            # utility statements take no parameters: format() quotes the name and password
            statement = await conn.scalar(
                text(
                    "SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
                    " NOBYPASSRLS INHERIT IN ROLE %I', CAST(:name AS text), CAST(:app AS text))"
                    " || CASE WHEN CAST(:pw AS text) IS NULL THEN ''"
                    " ELSE format(' PASSWORD %L', CAST(:pw AS text)) END"
                ),
                {"name": name, "app": APP_ROLE, "pw": password},
            )
            try:
                await conn.exec_driver_sql(str(statement))
            except DBAPIError as e:
                # the statement holds the password: name only the server's reason
                reason = str(e.orig).splitlines()[0] if e.orig else "refused"
                raise ValidationFailedError(
                    f"could not create role {name!r}: {reason}", field="database_url"
                ) from None
    finally:
        await engine.dispose()
