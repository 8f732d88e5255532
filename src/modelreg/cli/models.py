"""`modelreg models` and `modelreg templates`: the registry, acting as the system actor."""

from __future__ import annotations

import json
import sys
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer

from modelreg.actor import SYSTEM
from modelreg.cli.common import fail, note, run, services
from modelreg.errors import ValidationFailedError
from modelreg.settings import Settings

if TYPE_CHECKING:
    from modelreg.registry.schemas import ModelPublic
    from modelreg.services import Store

__all__ = ["models_app", "templates_app"]

models_app = typer.Typer(help="Registered models.", no_args_is_help=True)
templates_app = typer.Typer(help="Provider templates.", no_args_is_help=True)


def _model_line(model: ModelPublic, owners: dict[uuid.UUID, str] | None = None) -> str:
    owner = (owners or {}).get(model.user_id) if model.user_id else None
    scope = "global" if model.is_global else f"user:{owner or model.user_id}"
    flags = ("" if model.enabled else " disabled") + (" env" if model.source == "env" else "")
    return f"{model.name:<28} {model.provider:<11} {model.model_id:<32} {scope}{flags}  {model.id}"


@models_app.command("list")
def models_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """List every model (global and personal)."""

    async def go() -> tuple[list[ModelPublic], dict[uuid.UUID, str]]:
        async with services() as s:
            users = await s.accounts.list_users(SYSTEM)
            return await s.registry.list_models(SYSTEM), {u.id: u.username for u in users}

    models, owners = run(go)
    if as_json:
        typer.echo(json.dumps([m.model_dump(mode="json") for m in models], indent=2))
        return
    for model in models:
        typer.echo(_model_line(model, owners))


def _read_api_key(api_key_stdin: bool, api_key: str | None) -> str | None:
    if api_key_stdin:
        return sys.stdin.readline().strip() or None
    return api_key


@models_app.command("add")
def models_add(
    name: Annotated[str, typer.Argument(help="Name clients use to pick the model.")],
    template: Annotated[
        str | None, typer.Option(help="Start from a template (see `modelreg templates list`).")
    ] = None,
    provider: Annotated[str | None, typer.Option(help="Provider (without --template).")] = None,
    base_url: Annotated[str | None, typer.Option(help="Base URL of the API.")] = None,
    model_id: Annotated[str | None, typer.Option(help="The provider's model id.")] = None,
    auth_type: Annotated[str, typer.Option(help="bearer, api_key or none.")] = "bearer",
    api_key: Annotated[
        str | None,
        typer.Option(envvar="MODELREG_MODEL_API_KEY", help="API key (prefer --api-key-stdin)."),
    ] = None,
    api_key_stdin: Annotated[
        bool, typer.Option("--api-key-stdin", help="Read the API key from standard input.")
    ] = False,
    input_price: Annotated[
        str | None, typer.Option(help="USD per 1M input tokens (as in the UI).")
    ] = None,
    output_price: Annotated[
        str | None, typer.Option(help="USD per 1M output tokens (as in the UI).")
    ] = None,
    context_length: Annotated[
        int | None, typer.Option(help="Context window in tokens (wins over the template's).")
    ] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Register it disabled.")] = False,
) -> None:
    """Register a global model."""
    from modelreg.registry.schemas import FromTemplateRequest, ModelCreate

    key = _read_api_key(api_key_stdin, api_key)
    try:
        per_input, per_output = _per_token(input_price), _per_token(output_price)
    except ArithmeticError:
        fail("prices must be decimal numbers (USD per 1M tokens)")

    async def go() -> ModelPublic:
        async with services() as s:
            if template:
                request = FromTemplateRequest(
                    template_id=template,
                    api_key=key,
                    name=name,
                    model_id=model_id,
                    base_url=base_url,
                    context_length=context_length,
                    price_per_input_token=per_input,
                    price_per_output_token=per_output,
                    is_global=True,
                    enabled=not disabled,
                )
                return await s.registry.create_from_template(SYSTEM, request)
            if not (provider and base_url and model_id):
                raise ValidationFailedError(
                    "--provider, --base-url and --model-id are required without --template",
                    field="provider",
                )
            data = ModelCreate.model_validate(
                {
                    "name": name,
                    "provider": provider,
                    "base_url": base_url,
                    "model_id": model_id,
                    "auth_type": auth_type,
                    "api_key": key,
                    "price_per_input_token": per_input or Decimal(0),
                    "price_per_output_token": per_output or Decimal(0),
                    "context_length": context_length,
                    "enabled": not disabled,
                    "is_global": True,
                }
            )
            return await s.registry.create_model(SYSTEM, data)

    typer.echo(_model_line(run(go)))
    _note_running_servers()


def _per_token(per_million: str | None) -> Decimal | None:
    """A price typed per 1M tokens, the one unit a person types anywhere, stored per token."""
    if per_million is None:
        return None
    return Decimal(per_million) / 1_000_000


@models_app.command("remove")
def models_remove(
    model: Annotated[str, typer.Argument(help="Global model name or model id.")],
) -> None:
    """Delete a model (conversations using it are detached, their history stays)."""

    async def go() -> str:
        async with services() as s:
            target = await _find_model(s, model)
            await s.registry.delete_model(SYSTEM, target.id)
            return target.name

    typer.echo(f"removed {run(go)}")
    _note_running_servers()


def _note_running_servers() -> None:
    # the CLI writes the database directly; servers notice the new cache generation it wrote
    # at their next poll (modelreg.invalidation)
    settings = Settings()
    interval = settings.cache_poll_interval
    if interval > 0:
        note(
            f"a running server sees this change within ~{interval:g} s "
            "(MODELREG_CACHE_POLL_INTERVAL)"
        )
    else:
        ttl = settings.model_cache_ttl
        note(
            f"a running server sees this change within {ttl:g} s (MODELREG_MODEL_CACHE_TTL; "
            "MODELREG_CACHE_POLL_INTERVAL=0 turns the quicker check off)"
        )


async def _find_model(s: Store, name_or_id: str) -> ModelPublic:
    models = await s.registry.list_models(SYSTEM)
    by_id = [m for m in models if str(m.id) == name_or_id]
    by_name = [m for m in models if m.name == name_or_id and m.is_global]
    found = by_id or by_name
    if not found:
        raise ValidationFailedError(f"no model {name_or_id!r} (use the id)", field="model")
    return found[0]


@templates_app.command("list")
def templates_list() -> None:
    """List the provider templates."""
    from modelreg.registry.templates import list_templates

    for t in list_templates():
        price = ""
        if t.price_per_input_token is not None and t.price_per_output_token is not None:
            per_m_in = t.price_per_input_token * 1_000_000
            per_m_out = t.price_per_output_token * 1_000_000
            price = f"${per_m_in.normalize():f}/${per_m_out.normalize():f} per 1M"
            if t.prices_as_of:
                price += f" ({t.prices_as_of})"
        typer.echo(f"{t.id:<20} {t.provider:<12} {t.base_url:<56} {t.model_id:<40} {price}")
