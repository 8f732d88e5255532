"""modelreg_read_history(ctx, conversation, owner): a conversation's history in one statement
(PostgreSQL only)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

A continuing chat turn reads its conversation first (modelreg.chat.store.read_history): the
conversation's model, its messages and whether knowledge collections are attached. Through a
SQLAlchemy connection that was BEGIN, the RLS context, SELECT, COMMIT: four round trips. This
function sets the RLS context and returns the same rows in one autocommitted call.

SECURITY INVOKER (the default, said aloud): the policies of the caller apply, after the
function switched to the app role and to the context's user, exactly as `Database.act_as`
does; a wrong `owner` finds nothing the policies hide.
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

CREATE_FUNCTION = """
CREATE FUNCTION modelreg_read_history(ctx json, p_conversation uuid, p_owner uuid)
RETURNS TABLE (
  h_llm_model_id uuid, h_user_id uuid, h_role text, h_content text, h_tool_calls text,
  h_tool_call_id text, h_status text, h_id uuid, h_reply_to_id uuid,
  h_selected_at timestamptz, h_created_at timestamptz, h_has_images boolean,
  h_has_collections boolean
)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $fn$
BEGIN
  IF ctx->>'app_role' IS NOT NULL THEN
    PERFORM set_config('role', ctx->>'app_role', true);
  END IF;
  PERFORM set_config('modelreg.user_id', ctx->>'uid', true),
          set_config('modelreg.role', ctx->>'role', true);
  RETURN QUERY
    SELECT c.llm_model_id, m.user_id, m.role::text, m.content::text, m.tool_calls::text,
           m.tool_call_id::text, m.status::text, m.id, m.reply_to_id, m.selected_at,
           m.created_at,
           EXISTS (SELECT 1 FROM message_images AS i WHERE i.message_id = m.id),
           EXISTS (SELECT 1 FROM knowledge_conversations AS k
                    WHERE k.conversation_id = c.id AND k.user_id = c.user_id)
      FROM conversations AS c
      LEFT JOIN messages AS m ON m.conversation_id = c.id
     WHERE c.id = p_conversation AND c.user_id = p_owner
     ORDER BY m.created_at, m.id;
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS modelreg_read_history(json, uuid, uuid)")
