"""experiments: A/B experiments over models; the experiment and arm on messages and usage

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05

An experiment is a name callers use like a model name; each request is assigned to one of
its arms (a model and a weight) by a key (modelreg.experiments). `messages` and
`usage_events` name the experiment and the arm that chose the model, so results are read
from the ledger. Deleting an experiment detaches its rows (SET NULL), as deleting a model
does. On PostgreSQL the new table gets row-level security like `llm_models`: company
experiments (user_id NULL) are read by everyone and written by admins; personal ones by
their owner; admins read all (a company model's name must not clash with anyone's
experiment).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from modelreg.db.rls import APP_ROLE, Policy, drop_policy_statements, policy_statements

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ADMIN = "modelreg_role() IN ('admin', 'system')"
_WRITE = f"(user_id IS NULL AND {_ADMIN}) OR user_id = modelreg_uid() OR modelreg_role() = 'system'"
_POLICIES: tuple[Policy, ...] = (
    ("experiments", "experiments_read", "SELECT",
     f"user_id IS NULL OR user_id = modelreg_uid() OR {_ADMIN}", None),
    ("experiments", "experiments_insert", "INSERT", None, _WRITE),
    ("experiments", "experiments_update", "UPDATE", _WRITE, _WRITE),
    ("experiments", "experiments_delete", "DELETE", _WRITE, None),
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("arms", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "name", name="uq_experiments_user_name"),
        sa.CheckConstraint(
            "status IN ('draft', 'running', 'paused', 'stopped')", name="ck_experiments_status"
        ),
    )
    op.create_index(
        "uq_experiments_global_name",
        "experiments",
        ["name"],
        unique=True,
        sqlite_where=sa.text("user_id IS NULL"),
        postgresql_where=sa.text("user_id IS NULL"),
    )
    for table in ("messages", "usage_events"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("experiment_id", sa.Uuid(), nullable=True))
            batch.add_column(sa.Column("experiment_arm_id", sa.Uuid(), nullable=True))
            batch.create_foreign_key(
                f"fk_{table}_experiment_id",
                "experiments",
                ["experiment_id"],
                ["id"],
                ondelete="SET NULL",
            )
    op.create_index("ix_messages_experiment", "messages", ["experiment_id"])
    op.create_index(
        "ix_usage_events_experiment", "usage_events", ["experiment_id", "experiment_arm_id"]
    )
    if op.get_bind().dialect.name == "postgresql":
        # explicit grant: the default privileges of 0002 cover tables of the role that ran it
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON experiments TO {APP_ROLE}")
        for statement in policy_statements(("experiments",), _POLICIES):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in drop_policy_statements(("experiments",), _POLICIES):
            op.execute(statement)
    op.drop_index("ix_usage_events_experiment", table_name="usage_events")
    op.drop_index("ix_messages_experiment", table_name="messages")
    for table in ("messages", "usage_events"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_experiment_id", type_="foreignkey")
            batch.drop_column("experiment_arm_id")
            batch.drop_column("experiment_id")
    op.drop_index("uq_experiments_global_name", table_name="experiments")
    op.drop_table("experiments")
