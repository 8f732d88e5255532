"""modelreg_store_turns(json): a batch of chat turns in one statement (PostgreSQL only)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

The group commit of chat turns (modelreg.chat.turn_writer) wrote a batch as BEGIN, the RLS
context, INSERT conversations, INSERT messages, COMMIT: five round trips. This function does
the same work in one autocommitted call: per user of the batch it sets the RLS context, then
inserts the new conversations, touches the continuing ones and inserts the messages.

SECURITY INVOKER (the default, said aloud): the policies of the caller apply, after the
function switched to the app role and to each group's user, exactly as `Database.act_as` does
on the old path. A row whose owner is not the group's user is refused by the policies.

The rows come as JSON (`modelreg.chat.pg_turns` builds them): json columns as the text the
Core insert would have stored (cast to json here), numerics as decimal strings, timestamps in
RFC 3339 with their offset. The column lists are frozen here; a later migration that adds a
column to conversations or messages must replace this function (tests/db/test_store_turns.py
fails until it does).
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_CONVERSATION_COLUMNS = (
    ("id", "uuid"),
    ("user_id", "uuid"),
    ("title", "text"),
    ("llm_model_id", "uuid"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    ("system_prompt", "text"),
    ("temperature", "float8"),
    ("top_p", "float8"),
    ("max_tokens", "integer"),
)
_MESSAGE_COLUMNS = (
    ("id", "uuid"),
    ("conversation_id", "uuid"),
    ("user_id", "uuid"),
    ("role", "text"),
    ("content", "text"),
    ("tool_calls", "json"),
    ("tool_call_id", "text"),
    ("llm_model_id", "uuid"),
    ("model_name", "text"),
    ("input_tokens", "integer"),
    ("output_tokens", "integer"),
    ("cached_tokens", "integer"),
    ("reasoning_tokens", "integer"),
    ("cost", "numeric"),
    ("latency_ms", "float8"),
    ("ttft_ms", "float8"),
    ("finish_reason", "text"),
    ("status", "text"),
    ("error", "text"),
    ("created_at", "timestamptz"),
    ("reply_to_id", "uuid"),
    ("experiment_id", "uuid"),
    ("experiment_arm_id", "uuid"),
    ("selected_at", "timestamptz"),
    ("price_per_input_token", "numeric"),
    ("price_per_output_token", "numeric"),
    ("price_per_cache_read_token", "numeric"),
    ("price_per_cache_write_token", "numeric"),
    ("usage_estimated", "boolean"),
    ("citations", "json"),
)


def _insert(table: str, key: str, columns: tuple[tuple[str, str], ...]) -> str:
    """INSERT of the rows under `key` of the group. json columns travel as text (the exact
    text the Core insert would store) and are cast here."""
    names = ", ".join(name for name, _ in columns)
    record = ", ".join(f"{name} {'text' if kind == 'json' else kind}" for name, kind in columns)
    values = ", ".join(f"{name}::json" if kind == "json" else name for name, kind in columns)
    return (
        f"IF g->'{key}' IS NOT NULL THEN\n"  # noqa: S608 - constants only
        f"      INSERT INTO {table} ({names})\n"
        f"      SELECT {values} FROM json_to_recordset(g->'{key}') AS r({record});\n"
        f"    END IF;"
    )


CREATE_FUNCTION = f"""
CREATE FUNCTION modelreg_store_turns(batch json) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $fn$
DECLARE
  g json;
  t record;
BEGIN
  IF batch->>'app_role' IS NOT NULL THEN
    PERFORM set_config('role', batch->>'app_role', true);
  END IF;
  FOR g IN SELECT json_array_elements(batch->'groups') LOOP
    PERFORM set_config('modelreg.user_id', g->>'uid', true),
            set_config('modelreg.role', g->>'role', true);
    {_insert("conversations", "c", _CONVERSATION_COLUMNS)}
    -- one UPDATE per touch, by primary key: a join with the recordset let the planner
    -- (which guesses 100 rows for it) scan every conversation, RLS checks and all
    FOR t IN SELECT * FROM json_to_recordset(g->'t')
             AS r(id uuid, user_id uuid, at timestamptz, set_model boolean, model_id uuid)
    LOOP
      UPDATE conversations AS c
         SET updated_at = t.at,
             llm_model_id = CASE WHEN t.set_model THEN t.model_id ELSE c.llm_model_id END
       WHERE c.id = t.id AND c.user_id = t.user_id;
    END LOOP;
    {_insert("messages", "m", _MESSAGE_COLUMNS)}
  END LOOP;
END
$fn$
"""  # noqa: S608 - built from the constants above only


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS modelreg_store_turns(json)")
