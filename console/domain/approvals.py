"""Proposals waiting for approval: a change to an endpoint's split that one identity made and
another must approve (or reject) before the engine applies it.

A proposal is made on one revision of the endpoint. It is applied only onto that revision
(If-Match semantics); once the endpoint has moved on, it is stale and can no longer be applied.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from console.domain.guards import Verdict
from console.domain.models import Split

DEFAULT_EXPIRY_S = 3600
MAX_EXPIRY_S = 7 * 86400


class ProposalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"  # and applied: `applied_revision` names the revision
    REJECTED = "rejected"  # by a person, with a reason
    EXPIRED = "expired"  # nobody decided before `expires`
    STALE = "stale"  # the endpoint changed after the revision it was made on

    @property
    def closed(self) -> bool:
        return self is not ProposalState.PENDING


class ChangeProposal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    endpoint: str
    state: ProposalState = ProposalState.PENDING
    revision: int = Field(description="the endpoint revision it was made on; it applies only onto that one")
    before: Split = Field(description="the split at `revision`")
    after: Split = Field(description="the split it asks for")
    reason: str = ""
    proposer: str = Field(description="actor (user@host) who proposed it")
    proposer_identity: str | None = Field(default=None, description="console or CLI identity that proposed it")
    created: datetime
    expires: datetime
    decided_by: str | None = Field(default=None, description="who approved or rejected it; 'engine' for expiry")
    decided_identity: str | None = None
    decided: datetime | None = None
    decision_reason: str = Field(default="", description="why it was rejected, expired or went stale")
    applied_revision: int | None = Field(default=None, description="the revision its approval created")
    verdicts: tuple[Verdict, ...] = Field(default=(), description="guard verdicts the proposer reviewed")

    def proposer_text(self) -> str:
        return f"{self.proposer} (identity {self.proposer_identity})" if self.proposer_identity else self.proposer

    def closed_text(self) -> str:
        """Why it can no longer be approved or rejected, in a sentence."""
        when = self.decided.isoformat(timespec="seconds") if self.decided else "?"
        if self.state is ProposalState.APPROVED:
            return (f"proposal {self.id} was already approved by {self.decided_by} at {when} "
                    f"(revision {self.applied_revision})")
        if self.state is ProposalState.REJECTED:
            return f"proposal {self.id} was rejected by {self.decided_by} at {when}: {self.decision_reason}"
        if self.state is ProposalState.EXPIRED:
            return f"proposal {self.id} expired at {self.expires.isoformat(timespec='seconds')}: propose it again"
        if self.state is ProposalState.STALE:
            return f"proposal {self.id} is stale: {self.decision_reason}"
        return f"proposal {self.id} is pending"
