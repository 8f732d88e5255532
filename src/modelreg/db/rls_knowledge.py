"""Row-level security of the knowledge tables (migration 0013), on PostgreSQL.

Same rules as `llm_models`: everyone reads company-wide rows (`user_id IS NULL`) and their
own; only admins and system write company-wide rows; system (the background indexer) reads
and writes everything. The attachments of collections to conversations are the owner's only.
Explicit grants as in 0003: the default privileges of 0002 cover only tables created by the
role that ran 0002.
"""

from __future__ import annotations

from typing import Final

from modelreg.db.rls import APP_ROLE, Policy, drop_policy_statements, policy_statements

__all__ = ["KNOWLEDGE_TABLES", "disable_knowledge_rls_sql", "enable_knowledge_rls_sql"]

KNOWLEDGE_TABLES: Final = (
    "knowledge_collections",
    "knowledge_documents",
    "knowledge_chunks",
    "knowledge_entities",
    "knowledge_relationships",
    "knowledge_communities",
    "knowledge_conversations",
)
_SHARED: Final = KNOWLEDGE_TABLES[:-1]

_SYSTEM = "modelreg_role() = 'system'"
_ADMIN = "modelreg_role() IN ('admin', 'system')"
_OWNER = "user_id = modelreg_uid()"
_READ = f"user_id IS NULL OR {_OWNER} OR {_SYSTEM}"
_WRITE = f"(user_id IS NULL AND {_ADMIN}) OR {_OWNER} OR {_SYSTEM}"


def _policies() -> tuple[Policy, ...]:
    policies: list[Policy] = []
    for table in _SHARED:
        short = table.removeprefix("knowledge_")
        policies += [
            (table, f"k_{short}_read", "SELECT", _READ, None),
            (table, f"k_{short}_insert", "INSERT", None, _WRITE),
            (table, f"k_{short}_update", "UPDATE", _WRITE, _WRITE),
            (table, f"k_{short}_delete", "DELETE", _WRITE, None),
        ]
    policies.append(
        ("knowledge_conversations", "k_conversations_owner", "ALL", f"{_OWNER} OR {_SYSTEM}", None)
    )
    return tuple(policies)


def enable_knowledge_rls_sql() -> list[str]:
    grants = [
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}"
        for table in KNOWLEDGE_TABLES
    ]
    return [*grants, *policy_statements(KNOWLEDGE_TABLES, _policies())]


def disable_knowledge_rls_sql() -> list[str]:
    return drop_policy_statements(KNOWLEDGE_TABLES, _policies())
