"""budgets (monthly cost limits per user, per model, company-wide) and unit prices per call

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

- `budgets`: one row per limit (modelreg.budgets). Row-level security: everyone in a context
  reads the company-wide and model budgets and their own user budgets; admins and the system
  read and write all; a user writes only the user budgets they set for themselves (the
  service also keeps those below an admin's). `alert_period` / `alert_level` remember which
  alert (80 %, 100 %) was written for which month, so each is written once across replicas.
- `messages.usage_estimated`: the answer's tokens are an estimate (a stopped answer whose
  usage never came), as `usage_events.estimated` says for the ledger.
- `usage_events` and `messages` get the unit prices a call was booked with (input, output,
  cache read, cache write, per token): a later price change never rewrites what a stored cost
  means. NULL on rows written before this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from modelreg.db.rls import APP_ROLE, drop_policy_statements, policy_statements
from modelreg.db.types import ExactDecimal

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

PRICE_COLUMNS = (
    "price_per_input_token",
    "price_per_output_token",
    "price_per_cache_read_token",
    "price_per_cache_write_token",
)

_ADMIN = "modelreg_role() IN ('admin', 'system')"
_OWN = (
    "modelreg_role() = 'user' AND user_id = modelreg_uid() AND created_by = modelreg_uid()"
    " AND scope = 'user'"
)
_POLICIES = (
    ("budgets", "budgets_read", "SELECT",
     f"{_ADMIN} OR (modelreg_role() = 'user' AND (user_id IS NULL OR user_id = modelreg_uid()))",
     None),
    ("budgets", "budgets_insert", "INSERT", None, f"{_ADMIN} OR ({_OWN})"),
    ("budgets", "budgets_update", "UPDATE", f"{_ADMIN} OR ({_OWN})", f"{_ADMIN} OR ({_OWN})"),
    ("budgets", "budgets_delete", "DELETE", f"{_ADMIN} OR ({_OWN})", None),
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column(
            "user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column(
            "llm_model_id",
            sa.Uuid(),
            sa.ForeignKey("llm_models.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("limit_usd", ExactDecimal(), nullable=False),
        sa.Column("period", sa.String(16), nullable=False, server_default="month"),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("set_by_admin", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("alert_period", sa.String(16), nullable=True),
        sa.Column("alert_level", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(scope = 'global' AND user_id IS NULL AND llm_model_id IS NULL)"
            " OR (scope = 'user' AND user_id IS NOT NULL AND llm_model_id IS NULL)"
            " OR (scope = 'model' AND user_id IS NULL AND llm_model_id IS NOT NULL)",
            name="ck_budgets_scope",
        ),
    )
    op.create_index("ix_budgets_user", "budgets", ["user_id"])
    for table in ("usage_events", "messages"):
        with op.batch_alter_table(table) as batch:
            for name in PRICE_COLUMNS:
                batch.add_column(sa.Column(name, ExactDecimal(), nullable=True))
            if table == "messages":
                batch.add_column(
                    sa.Column(
                        "usage_estimated", sa.Boolean(), nullable=False, server_default=sa.false()
                    )
                )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON budgets TO {APP_ROLE}")
        for statement in policy_statements(("budgets",), _POLICIES):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in drop_policy_statements(("budgets",), _POLICIES):
            op.execute(statement)
    for table in ("usage_events", "messages"):
        with op.batch_alter_table(table) as batch:
            for name in PRICE_COLUMNS:
                batch.drop_column(name)
            if table == "messages":
                batch.drop_column("usage_estimated")
    op.drop_index("ix_budgets_user", "budgets")
    op.drop_table("budgets")
