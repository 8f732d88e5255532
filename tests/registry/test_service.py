"""ModelManagerService: CRUD with the access rules for admin, user A and user B."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select, update

from modelreg.actor import SYSTEM, Actor
from modelreg.db.engine import Database
from modelreg.db.models import AuditLog, Conversation, LLMModel, Message
from modelreg.errors import AccessDeniedError, UnknownModelError, ValidationFailedError
from modelreg.registry.schemas import ModelUpdate
from modelreg.registry.service import ModelManagerService
from tests.registry.conftest import model_input


async def test_users_see_global_and_own_models_only(
    registry: ModelManagerService, admin_actor: Actor, user_a: Actor, user_b: Actor
) -> None:
    await registry.create_model(admin_actor, model_input("shared", is_global=True))
    await registry.create_model(user_a, model_input("alice-model"))
    await registry.create_model(user_b, model_input("bob-model"))

    assert [m.name for m in await registry.list_models(user_a)] == ["shared", "alice-model"]
    assert [m.name for m in await registry.list_models(user_b)] == ["shared", "bob-model"]
    # admins get global + own as well; other users' keys are not theirs to browse
    assert [m.name for m in await registry.list_models(admin_actor)] == ["shared"]
    assert len(await registry.list_models(SYSTEM)) == 3


async def test_list_filters(registry: ModelManagerService, admin_actor: Actor) -> None:
    await registry.create_model(admin_actor, model_input("on", is_global=True))
    await registry.create_model(
        admin_actor, model_input("off", is_global=True, enabled=False, provider="groq")
    )
    assert [m.name for m in await registry.list_models(admin_actor, enabled=True)] == ["on"]
    assert [m.name for m in await registry.list_models(admin_actor, provider="groq")] == ["off"]


async def test_other_users_model_does_not_exist_for_them(
    registry: ModelManagerService, user_a: Actor, user_b: Actor
) -> None:
    mine = await registry.create_model(user_a, model_input("private"))
    with pytest.raises(UnknownModelError):
        await registry.get_model(user_b, mine.id)
    with pytest.raises(UnknownModelError):
        await registry.resolve(user_b, "private")
    with pytest.raises(UnknownModelError):
        await registry.resolve(user_b, str(mine.id))
    with pytest.raises(UnknownModelError):
        await registry.update_model(user_b, mine.id, ModelUpdate(enabled=False))
    with pytest.raises(UnknownModelError):
        await registry.delete_model(user_b, mine.id)
    assert (await registry.get_model(user_a, mine.id)).enabled


async def test_only_admins_create_and_change_global_models(
    registry: ModelManagerService, admin_actor: Actor, user_a: Actor
) -> None:
    with pytest.raises(AccessDeniedError):
        await registry.create_model(user_a, model_input("g", is_global=True))
    shared = await registry.create_model(admin_actor, model_input("g", is_global=True))
    assert shared.is_global
    assert shared.user_id is None
    with pytest.raises(AccessDeniedError):
        await registry.update_model(user_a, shared.id, ModelUpdate(enabled=False))
    with pytest.raises(AccessDeniedError):
        await registry.delete_model(user_a, shared.id)
    updated = await registry.update_model(admin_actor, shared.id, ModelUpdate(enabled=False))
    assert not updated.enabled
    await registry.delete_model(admin_actor, shared.id)
    assert await registry.list_models(admin_actor) == []


async def test_resolve_prefers_own_name_then_global_then_id(
    registry: ModelManagerService, admin_actor: Actor, user_a: Actor, user_b: Actor
) -> None:
    shared = await registry.create_model(
        admin_actor, model_input("chat", is_global=True, model_id="global-remote")
    )
    own = await registry.create_model(user_a, model_input("chat", model_id="own-remote"))
    assert (await registry.resolve(user_a, "chat")).model_id == "own-remote"
    assert (await registry.resolve(user_b, "chat")).model_id == "global-remote"
    assert (await registry.resolve(user_a, str(shared.id))).id == str(shared.id)
    config = await registry.resolve(user_a, str(own.id))
    assert config.api_key is not None
    assert config.api_key.reveal() == "sk-test-key-chat"
    assert config.user_id == str(user_a.id)
    assert not config.is_global


async def test_disabled_model_does_not_resolve_but_get_config_finds_it(
    registry: ModelManagerService, admin_actor: Actor
) -> None:
    model = await registry.create_model(
        admin_actor, model_input("off", is_global=True, enabled=False)
    )
    with pytest.raises(UnknownModelError):
        await registry.resolve(admin_actor, "off")
    assert not (await registry.get_config(model.id)).enabled
    with pytest.raises(UnknownModelError):
        await registry.get_config(uuid.uuid4())
    assert await registry.find_config(uuid.uuid4()) is None
    found = await registry.find_config(str(model.id))
    assert found is not None
    assert found.name == "off"


async def test_update_changes_fields_and_key_semantics(
    registry: ModelManagerService, user_a: Actor
) -> None:
    model = await registry.create_model(user_a, model_input("m", api_key="sk-original-1234"))
    assert model.has_api_key
    assert model.api_key_hint == "1234"

    # api_key absent or None keeps the key
    await registry.update_model(user_a, model.id, ModelUpdate(description="new"))
    await registry.update_model(user_a, model.id, ModelUpdate(api_key=None))
    config = await registry.resolve(user_a, "m")
    assert config.api_key is not None
    assert config.api_key.reveal() == "sk-original-1234"
    assert config.description == "new"

    updated = await registry.update_model(
        user_a,
        model.id,
        ModelUpdate(api_key="sk-replaced-9876", price_per_input_token=Decimal("0.000001"),
                    context_length=None),
    )  # fmt: skip
    assert updated.api_key_hint == "9876"
    assert updated.price_per_input_token == Decimal("0.000001")

    cleared = await registry.update_model(user_a, model.id, ModelUpdate(api_key=""))
    assert not cleared.has_api_key
    assert cleared.api_key_hint is None
    assert (await registry.resolve(user_a, "m")).api_key is None


async def test_auth_headers_are_encrypted_and_only_names_are_public(
    registry: ModelManagerService, db: Database, user_a: Actor
) -> None:
    model = await registry.create_model(
        user_a, model_input("h", auth_headers={"X-Api-Token": "header-secret-value"})
    )
    assert model.auth_header_names == ["X-Api-Token"]
    async with db.session(SYSTEM) as session:
        stored = await session.scalar(select(LLMModel.auth_headers).where(LLMModel.id == model.id))
    assert stored is not None
    assert "header-secret-value" not in stored
    config = await registry.resolve(user_a, "h")
    assert config.auth_headers["X-Api-Token"].reveal() == "header-secret-value"
    cleared = await registry.update_model(user_a, model.id, ModelUpdate(auth_headers={}))
    assert cleared.auth_header_names == []


async def test_prices_are_exact_decimals(registry: ModelManagerService, admin_actor: Actor) -> None:
    price = Decimal("0.000000123456789")
    await registry.create_model(
        admin_actor, model_input("p", is_global=True, price_per_output_token=price)
    )
    registry.invalidate()
    config = await registry.resolve(admin_actor, "p")
    assert config.price_per_output_token == price
    assert config.cost(0, 1000) == price * 1000


@pytest.mark.parametrize("scope", ["user", "global"])
async def test_duplicate_names_are_refused_with_the_field_named(
    registry: ModelManagerService, admin_actor: Actor, user_a: Actor, scope: str
) -> None:
    actor = admin_actor if scope == "global" else user_a
    is_global = scope == "global"
    first = await registry.create_model(actor, model_input("dup", is_global=is_global))
    with pytest.raises(ValidationFailedError) as info:
        await registry.create_model(actor, model_input("dup", is_global=is_global))
    assert info.value.field == "name"
    other = await registry.create_model(actor, model_input("other", is_global=is_global))
    with pytest.raises(ValidationFailedError) as info:
        await registry.update_model(actor, other.id, ModelUpdate(name="dup"))
    assert info.value.field == "name"
    # renaming to its own name is fine
    await registry.update_model(actor, first.id, ModelUpdate(name="dup"))


async def test_unique_index_backs_up_the_precheck_for_global_names(
    db: Database, registry: ModelManagerService, admin_actor: Actor
) -> None:
    """NULL user_ids are distinct in SQL: the partial unique index catches what a racing
    writer would slip past the service's check."""
    await registry.create_model(admin_actor, model_input("race", is_global=True))
    from sqlalchemy import exc

    with pytest.raises(exc.IntegrityError):
        async with db.session(SYSTEM) as session:
            session.add(
                LLMModel(
                    name="race", provider="openai", base_url="http://x", model_id="m",
                    is_global=True, user_id=None,
                )
            )  # fmt: skip


async def test_same_name_for_different_users_is_fine(
    registry: ModelManagerService, user_a: Actor, user_b: Actor
) -> None:
    alices = await registry.create_model(user_a, model_input("mine"))
    bobs = await registry.create_model(user_b, model_input("mine"))
    assert alices.id != bobs.id
    # each name resolves to its owner's row, not the other user's
    assert (await registry.resolve(user_a, "mine")).id == str(alices.id)
    assert (await registry.resolve(user_b, "mine")).id == str(bobs.id)


async def test_every_change_writes_an_audit_row_without_secrets(
    db: Database, registry: ModelManagerService, user_a: Actor
) -> None:
    model = await registry.create_model(user_a, model_input("a", api_key="sk-audit-secret-1"))
    await registry.update_model(user_a, model.id, ModelUpdate(api_key="sk-audit-secret-2"))
    await registry.delete_model(user_a, model.id)
    async with db.session(SYSTEM) as session:
        rows = list(await session.scalars(select(AuditLog).order_by(AuditLog.id)))
    model_rows = [r for r in rows if r.target_type == "llm_model"]
    assert [r.action for r in model_rows] == ["model.create", "model.update", "model.delete"]
    assert all(r.actor_id == user_a.id and r.target_id == str(model.id) for r in model_rows)
    create, change, delete = model_rows
    assert create.before is None
    assert create.after is not None
    assert create.after["name"] == "a"
    assert create.after["api_key"] == "[redacted]"
    assert delete.after is None
    assert delete.before is not None
    dumped = repr([(r.before, r.after) for r in rows])
    assert "sk-audit-secret" not in dumped
    assert change.after is not None
    assert change.after["price_per_input_token"] == "0"


async def test_failed_change_writes_nothing(
    db: Database, registry: ModelManagerService, user_a: Actor
) -> None:
    model = await registry.create_model(user_a, model_input("a"))
    await registry.create_model(user_a, model_input("b"))

    async def counts() -> tuple[int, int]:
        async with db.session(SYSTEM) as session:
            models = await session.scalar(select(func.count()).select_from(LLMModel))
            audits = await session.scalar(select(func.count()).select_from(AuditLog))
        return int(models or 0), int(audits or 0)

    before = await counts()
    with pytest.raises(ValidationFailedError):
        await registry.update_model(user_a, model.id, ModelUpdate(name="b", description="x"))
    with pytest.raises(ValidationFailedError):
        await registry.create_model(user_a, model_input("b"))
    assert await counts() == before
    assert (await registry.get_model(user_a, model.id)).description == ""


async def test_delete_detaches_conversations_and_messages_keep_the_name(
    db: Database, registry: ModelManagerService, user_a: Actor
) -> None:
    model = await registry.create_model(user_a, model_input("gone"))
    async with db.session(user_a) as session:
        conversation = Conversation(id=uuid.uuid4(), user_id=user_a.id, llm_model_id=model.id)
        session.add(conversation)
        await session.flush()
        session.add(
            Message(
                conversation_id=conversation.id, user_id=user_a.id, role="assistant",
                content="hello", llm_model_id=model.id, model_name="gone",
            )
        )  # fmt: skip
    await registry.delete_model(user_a, model.id)
    async with db.session(user_a) as session:
        kept = (await session.scalars(select(Conversation))).one()
        message = (await session.scalars(select(Message))).one()
    assert kept.llm_model_id is None
    assert message.llm_model_id is None
    assert message.model_name == "gone"


async def test_fallbacks_must_be_visible_and_globals_fall_back_to_globals(
    registry: ModelManagerService, admin_actor: Actor, user_a: Actor, user_b: Actor
) -> None:
    shared = await registry.create_model(admin_actor, model_input("shared", is_global=True))
    bobs = await registry.create_model(user_b, model_input("bobs"))
    admins_own = await registry.create_model(admin_actor, model_input("admins-own"))

    with_fallback = await registry.create_model(
        user_a, model_input("mine", fallback_model_ids=[shared.id])
    )
    assert with_fallback.fallback_model_ids == [shared.id]
    assert (await registry.resolve(user_a, "mine")).fallback_model_ids == (str(shared.id),)

    for bad in ([bobs.id], [uuid.uuid4()], [with_fallback.id]):
        with pytest.raises(ValidationFailedError) as info:
            await registry.update_model(
                user_a, with_fallback.id, ModelUpdate(fallback_model_ids=bad)
            )
        assert info.value.field == "fallback_model_ids"
    with pytest.raises(ValidationFailedError):
        await registry.create_model(
            admin_actor, model_input("g2", is_global=True, fallback_model_ids=[admins_own.id])
        )


async def test_default_model_chain(
    registry: ModelManagerService, accounts: object, admin_actor: Actor, user_a: Actor
) -> None:
    from modelreg.accounts import AccountService

    assert isinstance(accounts, AccountService)
    assert await registry.get_default_model(user_a) is None
    await registry.create_model(admin_actor, model_input("b-global", is_global=True))
    first = await registry.create_model(admin_actor, model_input("a-global", is_global=True))
    # no default set anywhere: the first enabled global model by name
    default = await registry.get_default_model(user_a)
    assert default is not None
    assert default.name == "a-global"

    chosen = await registry.create_model(admin_actor, model_input("c-global", is_global=True))
    await registry.set_system_default(admin_actor, chosen.id)
    default = await registry.get_default_model(user_a)
    assert default is not None
    assert default.name == "c-global"
    with pytest.raises(AccessDeniedError):
        await registry.set_system_default(user_a, first.id)

    mine = await registry.create_model(user_a, model_input("mine"))
    await accounts.set_default_model(user_a, mine.id)
    default = await registry.get_default_model(user_a)
    assert default is not None
    assert default.name == "mine"
    # the user's default disabled: back to the system default
    await registry.update_model(user_a, mine.id, ModelUpdate(enabled=False))
    default = await registry.get_default_model(user_a)
    assert default is not None
    assert default.name == "c-global"


async def test_touch_last_used_is_batched_and_throttled(
    db: Database, registry: ModelManagerService, admin_actor: Actor
) -> None:
    a = await registry.create_model(admin_actor, model_input("a", is_global=True))
    b = await registry.create_model(admin_actor, model_input("b", is_global=True))
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        await registry.touch_last_used([a.id, b.id])
        await registry.touch_last_used([a.id, str(b.id)])  # within the minute: no write
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert (await registry.get_model(admin_actor, a.id)).last_used_at is not None


async def test_system_actor_cannot_own_personal_models(registry: ModelManagerService) -> None:
    with pytest.raises(ValidationFailedError) as info:
        await registry.create_model(SYSTEM, model_input("x"))
    assert info.value.field == "is_global"


async def test_personal_models_go_through_the_url_guard(
    db: Database, keyring: object, settings: object, user_a: Actor, admin_actor: Actor
) -> None:
    """With allow_private_base_urls off, a personal model may not point at loopback; a
    global model (an admin's choice) may."""
    from modelreg.crypto import KeyRing
    from modelreg.errors import UnsafeURLError
    from modelreg.settings import Settings

    assert isinstance(settings, Settings)
    assert isinstance(keyring, KeyRing)
    strict = ModelManagerService(
        db, keyring, settings.model_copy(update={"allow_private_base_urls": False})
    )
    with pytest.raises(UnsafeURLError):
        await strict.create_model(user_a, model_input("local", base_url="http://127.0.0.1:11434"))
    # a public IP literal: checked statically, no lookup and no packet is sent
    model = await strict.create_model(user_a, model_input("ok", base_url="http://9.9.9.9/v1"))
    with pytest.raises(UnsafeURLError):
        await strict.update_model(user_a, model.id, ModelUpdate(base_url="http://10.0.0.5/v1"))
    await strict.create_model(
        admin_actor, model_input("ollama", base_url="http://127.0.0.1:11434", is_global=True)
    )


async def test_wrong_key_gives_a_clear_error_without_the_secret(
    db: Database, registry: ModelManagerService, settings: object, user_a: Actor
) -> None:
    from modelreg.crypto import KeyRing, generate_key
    from modelreg.errors import EncryptionKeyError
    from modelreg.settings import Settings

    assert isinstance(settings, Settings)
    await registry.create_model(user_a, model_input("k", api_key="sk-never-shown-5678"))
    other = ModelManagerService(db, KeyRing.from_keys(generate_key()), settings)
    with pytest.raises(EncryptionKeyError) as info:
        await other.resolve(user_a, "k")
    assert "sk-never-shown" not in str(info.value)
    # listing still works: the public view needs no decryption of the key
    assert [m.name for m in await other.list_models(user_a)] == ["k"]


async def test_ciphertext_copied_into_another_row_does_not_decrypt(
    db: Database, registry: ModelManagerService, user_a: Actor, user_b: Actor
) -> None:
    from modelreg.errors import EncryptionKeyError

    a = await registry.create_model(user_a, model_input("a", api_key="sk-alice-secret-1"))
    b = await registry.create_model(user_b, model_input("b", api_key="sk-bob-secret-2"))
    async with db.session(SYSTEM) as session:
        stolen = await session.scalar(select(LLMModel.api_key_encrypted).where(LLMModel.id == a.id))
        await session.execute(
            update(LLMModel).where(LLMModel.id == b.id).values(api_key_encrypted=stolen)
        )
    registry.invalidate()
    with pytest.raises(EncryptionKeyError):
        await registry.resolve(user_b, "b")
