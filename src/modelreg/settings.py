"""Settings from the environment (prefix MODELREG_). Built once by the app factory or the CLI,
never at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["LegacySettings", "Settings"]


class Settings(BaseSettings):
    # a `.env` file in the working directory is read too (the original plan's promise);
    # the process environment wins over it
    model_config = SettingsConfigDict(
        env_prefix="MODELREG_", extra="ignore", env_file=".env", env_file_encoding="utf-8"
    )

    data_dir: Path = Path("./.modelreg")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in the data dir"
    )
    # base64 of 32 bytes; the newest key encrypts, all keys decrypt
    encryption_key: SecretStr | None = None
    # comma-separated base64 keys kept for decryption during rotation
    old_encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    # seconds to wait for a new database connection before answering 503
    database_connect_timeout: float = 5.0
    redis_url: str | None = None
    # Redis down: False = fail open (per-process limits, a warning, a metric), True = 503
    rate_limit_fail_closed: bool = False
    # seconds to wait for Redis (connect and each command) before treating it as down
    redis_timeout: float = 1.0
    admin_password: SecretStr | None = None
    # signs session cookies; default: generated into the data dir like the encryption key
    session_secret: SecretStr | None = None

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # addresses of reverse proxies whose X-Forwarded-For/-Proto are believed (uvicorn's
    # forwarded_allow_ips, e.g. "127.0.0.1" or "*"); unset = the headers are ignored
    forwarded_allow_ips: str | None = None
    log_level: str = "INFO"
    # 1 in N requests is written to the access log (0 turns it off)
    access_log_sample: int = 100
    # the raw ASGI fast path for pass-through gateway calls and /api/chat turns
    # (api/fastpath.py); off, the FastAPI routes answer them alike, slower: a switch for
    # diagnosis, and for the tests that check both answer the same
    gateway_fast_path: bool = True

    model_cache_ttl: float = 300.0
    token_cache_ttl: float = 60.0
    # seconds between two checks for changes made by other processes (0 turns them off)
    cache_poll_interval: float = 1.0
    # seconds between two reads of the budgets and this month's spend (modelreg.budgets):
    # how soon one replica sees another's spend
    budget_refresh_interval: float = Field(default=0.5, gt=0)
    # personal models may reach loopback/private addresses only when this is on
    allow_private_base_urls: bool = False
    max_request_bytes: int = 8 * 1024 * 1024
    upstream_connect_timeout: float = 5.0
    upstream_read_timeout: float = 300.0
    upstream_total_timeout: float = 600.0
    # upstream connections one worker holds open at once; an open stream holds one for its
    # whole length. Past it, a call waits up to the connect timeout for a free one, then is
    # answered 503. Each connection is a file descriptor: keep it under `ulimit -n`
    upstream_max_connections: int = Field(default=4096, ge=1)
    max_retries: int = 2
    # default limits per user (0 = unlimited); per-model limits live on the model row
    user_rpm_limit: int = 0
    user_tpm_limit: int = 0
    # password attempts per minute per user name and address (x5 per address); 0 = no limit
    login_attempts_per_minute: int = 10
    # bearer token for Prometheus scrapers on /metrics (admins' tokens work too)
    metrics_token: SecretStr | None = None
    # the usage journal: each usage event is appended to a local file before the response
    # ends, so a killed process loses none (docs/operations.md, "Usage journal")
    usage_journal: bool = True
    # default: <data_dir>/usage-journal; must be local to this machine and survive restarts
    usage_journal_dir: Path | None = None
    # fsync every event: also survives a crash of the machine, at the cost of one disk flush
    # per call on the event loop (milliseconds on most disks)
    usage_journal_fsync: bool = False
    # knowledge collections (docs/knowledge.md): the largest document accepted, and how long
    # an indexing process holds a document without renewing (after that, a restarted or
    # other process takes it over)
    knowledge_max_document_bytes: int = 5 * 1024 * 1024
    knowledge_lease_seconds: float = 60.0
    # "package.module:factory": a retrieval service plugged into every chat turn instead of
    # the built-in knowledge enhancer (docs/knowledge.md, "Another retrieval service")
    context_enhancer: str | None = None
    cookie_secure: bool = False
    # the interactive API docs at /docs and /redoc load their scripts from a CDN (no integrity
    # pinning, no CSP): off unless asked for; /openapi.json is always served
    api_docs: bool = False

    @field_validator("old_encryption_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'modelreg.db').resolve()}"

    @property
    def resolved_usage_journal_dir(self) -> Path:
        return self.usage_journal_dir or self.data_dir / "usage-journal"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


class LegacySettings(BaseSettings):
    """The old single-provider configuration, still honoured: its models appear as global
    models marked as coming from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="", extra="ignore", env_file=".env", env_file_encoding="utf-8"
    )

    llm_provider: str | None = None
    openai_api_key: SecretStr | None = None
    openai_model: str = "gpt-4o-mini"
    openai_base_url: str = "https://api.openai.com/v1"
    anthropic_api_key: SecretStr | None = None
    anthropic_model: str = "claude-sonnet-4-5"
    anthropic_base_url: str = "https://api.anthropic.com"
