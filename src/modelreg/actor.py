"""Who is asking: every service call takes an Actor and applies the access rules to it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

__all__ = ["SYSTEM", "Actor", "Role"]

Role = Literal["admin", "user", "system"]


@dataclass(frozen=True, slots=True)
class Actor:
    id: uuid.UUID | None
    username: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role in ("admin", "system")


# internal jobs (bootstrap, key rotation, migrations): not a user, bypasses row rules
SYSTEM = Actor(id=None, username="system", role="system")
