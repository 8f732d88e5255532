"""ModelManagerService: the model registry with its access rules, audit trail and cache.

Access rules (the same ones PostgreSQL enforces with row-level security, see db/rls.py):
- a user sees the global models and their own; another user's model does not exist for them
  (UnknownModelError, shown as 404);
- only admins (and the system actor) create, change or delete global models;
- the system actor sees everything (bootstrap, key rotation, fallbacks).

Deleting a model detaches it: conversations and usage rows keep their history with
`llm_model_id` set to NULL by the foreign keys (ON DELETE SET NULL), messages keep
`model_name`, users whose default it was fall back to the system default.

Every change writes an audit row in the same transaction and invalidates the cache: this
process's at once, the other processes' through a new cache generation written in the same
transaction (modelreg.invalidation), which their pollers notice within a second.

The row queries and the checks a write makes against other rows are in registry/_queries.py.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Hashable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy import exc, select, update

from modelreg.actor import SYSTEM, Actor
from modelreg.audit import write_audit
from modelreg.crypto import KeyRing, model_aad
from modelreg.db.engine import Database
from modelreg.db.models import AppSetting, LLMModel, User
from modelreg.errors import (
    AccessDeniedError,
    ModelregError,
    UnknownModelError,
    UnsafeURLError,
    ValidationFailedError,
)
from modelreg.invalidation import MODELS, bump
from modelreg.model_config import ModelConfig
from modelreg.registry._queries import (
    check_fallbacks,
    check_name_free,
    find_row,
    parse_uuid,
    visible,
    visible_row,
    writable_row,
)
from modelreg.registry._rows import (
    NOT_NULL_FIELDS,
    PLAIN_FIELDS,
    audit_state,
    set_api_key,
    set_auth_headers,
    to_config,
    to_public,
)
from modelreg.registry.access import explain_refusal, may_reach_private
from modelreg.registry.cache import TTLCache
from modelreg.registry.schemas import (
    FromTemplateRequest,
    ModelCreate,
    ModelPublic,
    ModelUpdate,
    TemplatePublic,
)
from modelreg.registry.templates import get_template, list_templates
from modelreg.settings import Settings

__all__ = ["DEFAULT_MODEL_SETTING", "ModelManagerService"]

log = logging.getLogger(__name__)

DEFAULT_MODEL_SETTING = "default_model"
# last_used_at is informational: write it at most once a minute per model
_TOUCH_INTERVAL = 60.0
_DEFAULT_KEY = "\x00default"


class ModelManagerService:
    def __init__(self, db: Database, keyring: KeyRing, settings: Settings) -> None:
        self.db = db
        self.keyring = keyring
        self.settings = settings
        ttl = settings.model_cache_ttl
        # visible models per user (unfiltered), resolved configs per (user, name-or-id)
        self._lists: TTLCache[uuid.UUID | None, list[ModelPublic]] = TTLCache(ttl)
        self._configs: TTLCache[tuple[uuid.UUID | None, str], ModelConfig] = TTLCache(ttl)
        # listings already serialised, per (user, enabled filter, variant): see `listing`
        self._listings: TTLCache[tuple[uuid.UUID | None, bool | None, Hashable], bytes]
        self._listings = TTLCache(ttl)
        self._touched: dict[str, float] = {}

    # --- reads ---------------------------------------------------------------------------

    async def list_models(
        self, actor: Actor, *, enabled: bool | None = None, provider: str | None = None
    ) -> list[ModelPublic]:
        models = self._lists.get(actor.id)
        if models is None:
            generation = self._lists.generation
            async with self.db.session(actor) as session:
                rows = await session.scalars(
                    select(LLMModel)
                    .where(visible(actor))
                    .order_by(LLMModel.user_id.is_not(None), LLMModel.name)
                )
                models = [to_public(row, self.keyring, actor) for row in rows]
            self._lists.set(actor.id, models, generation=generation)
        return [
            m
            for m in models
            if (enabled is None or m.enabled == enabled)
            and (provider is None or m.provider == provider)
        ]

    async def listing(
        self,
        actor: Actor,
        variant: Hashable,
        render: Callable[[list[ModelPublic]], bytes],
        *,
        enabled: bool | None = None,
    ) -> bytes:
        """`render(list_models(actor, enabled=enabled))`, kept until the model cache is
        cleared. `variant` names the rendering (the API surface and its shape): with 1,000
        models, building and dumping the list took ~2 ms of CPU on every request."""
        key = (actor.id, enabled, variant)
        cached = self._listings.get(key)
        if cached is not None:
            return cached
        generation = self._listings.generation
        data = render(await self.list_models(actor, enabled=enabled))
        self._listings.set(key, data, generation=generation)
        return data

    async def get_model(self, actor: Actor, model_id: uuid.UUID | str) -> ModelPublic:
        async with self.db.session(actor) as session:
            row = await visible_row(session, actor, model_id)
            return to_public(row, self.keyring, actor)

    async def resolve(self, actor: Actor, name_or_id: str) -> ModelConfig:
        """The enabled model `name_or_id` as `actor` sees it: their own model of that name
        first, then the global one; a UUID names a model directly."""
        key = (actor.id, name_or_id)
        config = self._configs.get(key)
        if config is not None:
            return config
        generation = self._configs.generation
        async with self.db.session(actor) as session:
            row = await find_row(session, actor, name_or_id)
            if row is None or not row.enabled:
                raise UnknownModelError(f"unknown or disabled model {name_or_id[:100]!r}")
            config = to_config(row, self.keyring)
        self._configs.set(key, config, generation=generation)
        return config

    async def get_config(self, model_id: uuid.UUID | str) -> ModelConfig:
        """Any model by id, enabled or not, without an access check (fallback chains)."""
        key = (None, f"\x00id:{model_id}")
        config = self._configs.get(key)
        if config is not None:
            return config
        generation = self._configs.generation
        async with self.db.session(SYSTEM) as session:
            row = await visible_row(session, SYSTEM, model_id)
            config = to_config(row, self.keyring)
        self._configs.set(key, config, generation=generation)
        return config

    async def find_config(self, model_id: uuid.UUID | str) -> ModelConfig | None:
        """`get_config`, but None for a model that no longer exists (fallback chains name
        ids that a delete may have removed)."""
        try:
            return await self.get_config(model_id)
        except UnknownModelError:
            return None

    async def served_config(self, asked: ModelConfig, served_id: str | None) -> ModelConfig:
        """The model that answered after a fallback (its prices are the ones to charge), or
        the asked one when it answered itself or the other can no longer be loaded."""
        if served_id is None or served_id == asked.id:
            return asked
        try:
            return await self.get_config(served_id)
        except ModelregError:
            return asked

    async def get_default_model(self, actor: Actor) -> ModelConfig | None:
        """The user's default model, else the system default (the model named by the old
        LLM_PROVIDER setting, or set by an admin), else the first enabled global model."""
        if actor.id is not None:
            async with self.db.session(actor) as session:
                user_default = await session.scalar(
                    select(User.default_model_id).where(User.id == actor.id)
                )
            if user_default is not None:
                try:
                    return await self.resolve(actor, str(user_default))
                except UnknownModelError:
                    pass  # disabled or no longer visible: fall through to the system default
        cached = self._configs.get((None, _DEFAULT_KEY))
        if cached is not None:
            return cached
        generation = self._configs.generation
        async with self.db.session(SYSTEM) as session:
            setting = await session.get(AppSetting, DEFAULT_MODEL_SETTING)
            row: LLMModel | None = None
            system_id = parse_uuid((setting.value or {}).get("id")) if setting else None
            if system_id is not None:
                row = await session.get(LLMModel, system_id)
                if row is not None and not (row.enabled and row.is_global):
                    row = None
            if row is None:
                row = await session.scalar(
                    select(LLMModel)
                    .where(LLMModel.is_global, LLMModel.enabled)
                    .order_by(LLMModel.name)
                    .limit(1)
                )
            if row is None:
                return None
            config = to_config(row, self.keyring)
        self._configs.set((None, _DEFAULT_KEY), config, generation=generation)
        return config

    def list_templates(self) -> list[TemplatePublic]:
        return [t.public() for t in list_templates()]

    # --- writes --------------------------------------------------------------------------

    async def create_model(
        self, actor: Actor, data: ModelCreate, *, source: str = "db"
    ) -> ModelPublic:
        """`source="env"` is for the legacy import (system actor only)."""
        if source != "db" and actor.role != "system":
            raise AccessDeniedError("only the system imports models from the environment")
        if data.is_global and not actor.is_admin:
            raise AccessDeniedError("only admins may create global models")
        if not data.is_global and actor.id is None:
            raise ValidationFailedError(
                "the system actor owns no models; create a global model", field="is_global"
            )
        await self._check_url(actor, data.base_url, is_global=data.is_global)
        owner = None if data.is_global else actor.id
        row = LLMModel(id=uuid.uuid4(), user_id=owner, source=source)
        for field in PLAIN_FIELDS:
            setattr(row, field, getattr(data, field))
        row.is_global = data.is_global
        row.fallback_model_ids = [str(i) for i in data.fallback_model_ids]
        set_api_key(row, data.api_key, self.keyring)
        set_auth_headers(row, data.auth_headers, self.keyring)
        row.created_at = row.updated_at = datetime.now(UTC)
        async with self._writing():
            async with self.db.session(actor) as session:
                await check_name_free(session, owner, row.name, None)
                await check_fallbacks(session, actor, row)
                session.add(row)
                await session.flush()
                await write_audit(
                    session, actor, "model.create", "llm_model", row.id, None, audit_state(row)
                )
                await bump(session, MODELS)
            return to_public(row, self.keyring, actor)

    async def update_model(
        self, actor: Actor, model_id: uuid.UUID | str, data: ModelUpdate
    ) -> ModelPublic:
        changes = data.model_dump(exclude_unset=True)
        if "base_url" in changes and changes["base_url"] is not None:
            current = await self.get_model(actor, model_id)
            await self._check_url(actor, changes["base_url"], is_global=current.is_global)
        async with self._writing():
            async with self.db.session(actor) as session:
                row = await writable_row(session, actor, model_id)
                before = audit_state(row)
                for field, value in changes.items():
                    if field == "api_key":
                        if value is not None:  # None keeps the key, "" clears it
                            set_api_key(row, value or None, self.keyring)
                    elif field == "auth_headers":
                        if value is not None:  # None keeps them, {} clears them
                            set_auth_headers(row, value or None, self.keyring)
                    elif field == "fallback_model_ids":
                        row.fallback_model_ids = [str(i) for i in value or []]
                    elif field in NOT_NULL_FIELDS and value is None:
                        raise ValidationFailedError(f"{field} may not be null", field=field)
                    else:
                        setattr(row, field, value)
                if "name" in changes:
                    await check_name_free(session, row.user_id, row.name, row.id)
                await check_fallbacks(session, actor, row)
                row.updated_at = datetime.now(UTC)
                await session.flush()
                await write_audit(
                    session, actor, "model.update", "llm_model", row.id, before, audit_state(row)
                )
                await bump(session, MODELS)
            return to_public(row, self.keyring, actor)

    async def delete_model(self, actor: Actor, model_id: uuid.UUID | str) -> None:
        async with self._writing(), self.db.session(actor) as session:
            row = await writable_row(session, actor, model_id)
            before = audit_state(row)
            await session.delete(row)
            await session.flush()
            await write_audit(session, actor, "model.delete", "llm_model", row.id, before, None)
            await bump(session, MODELS)

    async def create_from_template(self, actor: Actor, req: FromTemplateRequest) -> ModelPublic:
        template = get_template(req.template_id)
        if template is None:
            raise ValidationFailedError(
                f"unknown template {req.template_id!r}", field="template_id"
            )
        if template.base_url_is_placeholder and not req.base_url:
            raise ValidationFailedError(
                f"the {template.label} template needs your base_url", field="base_url"
            )
        if template.requires_api_key and not req.api_key:
            raise ValidationFailedError(f"{template.label} needs an api_key", field="api_key")
        model_id = req.model_id or template.model_id
        try:
            data = ModelCreate(
                name=req.name or model_id[:100],
                description=f"from the {template.label} template",
                provider=template.provider,
                base_url=req.base_url or template.base_url,
                model_id=model_id,
                auth_type=template.auth_type,
                api_key=req.api_key,
                supports_streaming=template.supports_streaming,
                supports_functions=template.supports_functions,
                supports_vision=template.supports_vision,
                context_length=_given(req.context_length, template.context_length),
                max_output_tokens=_given(req.max_output_tokens, template.max_output_tokens),
                price_per_input_token=_given(
                    req.price_per_input_token, template.price_per_input_token or Decimal(0)
                ),
                price_per_output_token=_given(
                    req.price_per_output_token, template.price_per_output_token or Decimal(0)
                ),
                options=dict(template.options),
                is_global=req.is_global,
                enabled=req.enabled,
                kind=template.kind,
                dimensions=template.dimensions,
            )
        except ValidationError as e:
            first = e.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or None
            raise ValidationFailedError(f"{field}: {first['msg']}", field=field) from None
        return await self.create_model(actor, data)

    async def set_system_default(self, actor: Actor, model_id: uuid.UUID | None) -> None:
        """Set (or with None, clear) the system default model; admins only."""
        if not actor.is_admin:
            raise AccessDeniedError("only admins may set the system default model")
        async with self._writing(), self.db.session(actor) as session:
            if model_id is not None:
                row = await visible_row(session, actor, model_id)
                if not row.is_global:
                    raise ValidationFailedError(
                        "the system default must be a global model", field="model_id"
                    )
            setting = await session.get(AppSetting, DEFAULT_MODEL_SETTING)
            before = setting.value if setting else None
            value = None if model_id is None else {"id": str(model_id)}
            if setting is None:
                session.add(AppSetting(key=DEFAULT_MODEL_SETTING, value=value))
            else:
                setting.value = value
            await write_audit(
                session,
                actor,
                "settings.default_model",
                "app_setting",
                DEFAULT_MODEL_SETTING,
                before,
                value,
            )
            await bump(session, MODELS)

    async def touch_last_used(self, ids: Iterable[uuid.UUID | str]) -> None:
        """Record use; at most one write per model per minute, all ids in one statement."""
        now = time.monotonic()
        due = [
            str(i)
            for i in ids
            if now - self._touched.get(str(i), -_TOUCH_INTERVAL) >= _TOUCH_INTERVAL
        ]
        if not due:
            return
        for model_id in due:
            self._touched[model_id] = now
        parsed = [u for u in (parse_uuid(i) for i in due) if u is not None]
        async with self.db.session(SYSTEM) as session:
            await session.execute(
                update(LLMModel)
                .where(LLMModel.id.in_(parsed))
                .values(last_used_at=datetime.now(UTC))
                .execution_options(synchronize_session=False)
            )

    async def rotate_keys(self) -> int:
        """Re-encrypt every secret with the newest key in one transaction; returns the
        number of rows changed. Any value that does not decrypt aborts the whole rotation."""
        changed = 0
        async with self._writing(), self.db.session(SYSTEM) as session:
            rows = await session.scalars(
                select(LLMModel).where(
                    LLMModel.api_key_encrypted.is_not(None) | LLMModel.auth_headers.is_not(None)
                )
            )
            for row in rows:
                touched = False
                if row.api_key_encrypted and not self.keyring.is_current(row.api_key_encrypted):
                    row.api_key_encrypted = self.keyring.reencrypt(
                        row.api_key_encrypted, aad=model_aad(row.id, "api_key")
                    )
                    touched = True
                if row.auth_headers and not self.keyring.is_current(row.auth_headers):
                    row.auth_headers = self.keyring.reencrypt(
                        row.auth_headers, aad=model_aad(row.id, "auth_headers")
                    )
                    touched = True
                changed += touched
            await write_audit(
                session,
                SYSTEM,
                "keys.rotate",
                "keyring",
                self.keyring.current_key_id,
                None,
                {"rows": changed},
            )
            await bump(session, MODELS)
        return changed

    def invalidate(self) -> None:
        self._lists.invalidate()
        self._configs.invalidate()
        self._listings.invalidate()

    # --- internals -----------------------------------------------------------------------

    def _writing(self) -> _InvalidateAfter:
        return _InvalidateAfter(self)

    async def _check_url(self, actor: Actor, url: str, *, is_global: bool) -> None:
        from modelreg.client.netguard import check_base_url_async, check_url_static

        if is_global:
            # an admin may point a company model at an internal host, never at a metadata
            # service; names are checked again when connecting (no lookup on save)
            check_url_static(url, allow_private=True)
            return
        try:
            await check_base_url_async(url, allow_private=may_reach_private(False, self.settings))
        except UnsafeURLError as e:
            raise explain_refusal(e, is_admin=actor.is_admin) from None


class _InvalidateAfter:
    """Async context: on any exit (success or failure) drop the caches, and turn a unique
    constraint race on the model name into the same error the pre-check raises."""

    def __init__(self, service: ModelManagerService) -> None:
        self._service = service

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, exc_type: type[BaseException] | None, err: BaseException | None, tb: object
    ) -> None:
        self._service.invalidate()
        if isinstance(err, exc.IntegrityError) and "name" in str(err.orig):
            raise ValidationFailedError("a model with this name exists", field="name") from None


T = TypeVar("T")


def _given(value: T | None, default: T) -> T:
    """The caller's value where given, else the template's."""
    return value if value is not None else default
