"""Who is calling: the actor (OS user@host, `X-Actor`) and the per-console identity
(`X-Switchboard-Identity`, a random id each console and the CLI keep in their config dir).

The control API's actor dependency sets `CURRENT` for the request's task, so every audit
event written while serving that request carries the identity without each mutation passing
it along; work the engine does on its own (ticks, an automated rollout) has none.

Both are what the caller says: the control API's token is the engine's owner's, so these
name which console or person acted; they are not a separate authentication.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass

IDENTITY_HEADER = "X-Switchboard-Identity"
IDENTITY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"
CURRENT: ContextVar[str | None] = ContextVar("switchboard_identity", default=None)
FROM_REQUEST = "<the request's identity>"  # Store.append_audit's default: CURRENT's value


@dataclass(frozen=True)
class Caller:
    actor: str
    identity: str | None = None

    @property
    def user(self) -> str:
        return self.actor.partition("@")[0]

    def same_as(self, actor: str, identity: str | None) -> bool:
        """The same caller: the same identity, or, where either sent none, the same actor."""
        if self.identity is not None and identity is not None:
            return self.identity == identity
        return self.actor == actor

    def named_in(self, names: tuple[str, ...]) -> bool:
        """Listed among `names` by actor (user@host), user, or identity."""
        return any(n in (self.actor, self.user) or (self.identity is not None and n == self.identity)
                   for n in names)

    def text(self) -> str:
        return f"{self.actor} (identity {self.identity})" if self.identity else self.actor


def valid_identity(value: str) -> bool:
    return re.fullmatch(IDENTITY_PATTERN, value) is not None
