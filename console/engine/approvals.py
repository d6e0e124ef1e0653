"""Proposals and their approval, on the engine.

Where an endpoint's policy says `approval_required`, a direct traffic change is refused and
the change is proposed instead. Another identity (not the proposer; one of the policy's
approvers where it names any) approves it, and the engine applies it onto the revision it
was made on, or finds it stale; or they reject it with a reason. Pending proposals expire.
Every step is an audit event. Proposals are kept in the state database (table `proposals`).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from console.domain.approvals import ChangeProposal, ProposalState
from console.domain.guards import Verdict
from console.domain.models import Split
from console.domain.split import split_problems
from console.engine.errors import EngineError
from console.engine.identity import Caller

if TYPE_CHECKING:
    from console.engine.core import Engine

SCHEMA = """
CREATE TABLE IF NOT EXISTS proposals (
    id INTEGER PRIMARY KEY, endpoint TEXT NOT NULL, state TEXT NOT NULL, expires TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS proposals_state ON proposals (state, endpoint);
"""
ENGINE_ACTOR = "engine"


def _now() -> datetime:
    return datetime.now(UTC)


def _split_json(split: Split) -> dict[str, Any]:
    return {"traffic": split.traffic, "mirror": split.mirror}


class Approvals:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store
        self.store.db.executescript(SCHEMA)

    # -- reading -------------------------------------------------------------------

    def get(self, proposal_id: int) -> ChangeProposal:
        row = self.store.db.execute("SELECT body FROM proposals WHERE id = ?", (proposal_id,)).fetchone()
        if row is None:
            raise EngineError(404, f"no proposal {proposal_id} (list them: GET /v1/proposals)")
        return ChangeProposal.model_validate_json(row["body"])

    def find(self, state: ProposalState | None = None, endpoint: str | None = None) -> list[ChangeProposal]:
        self.settle()
        query, args = "SELECT body FROM proposals WHERE 1 = 1", []
        if state is not None:
            query += " AND state = ?"
            args.append(state.value)
        if endpoint is not None:
            query += " AND endpoint = ?"
            args.append(endpoint)
        rows = self.store.db.execute(query + " ORDER BY id", args)
        return [ChangeProposal.model_validate_json(r["body"]) for r in rows]

    def refuse_unapproved(self, endpoint: str) -> None:
        """A direct change of an endpoint whose policy requires approval is refused (403)."""
        spec = self.engine._endpoints[endpoint][0] if endpoint in self.engine._endpoints else None
        if spec is not None and spec.policy is not None and spec.policy.approval_required:
            raise EngineError(
                403, f"endpoint {endpoint!r} requires approval for traffic changes (policy approval_required): "
                f"propose the change instead (POST /v1/endpoints/{endpoint}/proposals, or "
                f"`switchboard propose {endpoint} DEPLOYMENT=WEIGHT ... --reason TEXT`) and have another "
                "identity approve it", approval_required=True, proposals=f"/v1/endpoints/{endpoint}/proposals",
            )

    # -- proposing -----------------------------------------------------------------

    async def propose(self, endpoint: str, after: Split, revision: int, reason: str, expires_in_s: float,
                      verdicts: list[Verdict], caller: Caller) -> ChangeProposal:
        engine = self.engine
        attempt = {"revision": revision, **_split_json(after)}
        async with engine.lock:
            with engine._audit_refusal(caller.actor, "proposal.create", endpoint, None, attempt, reason):
                status = engine.endpoint(endpoint)
                if revision != status.revision:
                    raise EngineError(
                        409, f"endpoint {endpoint!r} is at revision {status.revision}, not {revision}: it changed "
                        "since you read it; propose again from the current split",
                        current=status.model_dump(mode="json"),
                    )
                problems = split_problems(after.traffic, after.mirror, engine._members(endpoint))
                if problems:
                    raise EngineError(422, "; ".join(problems), problems=problems)
                before = Split(traffic=status.traffic, mirror=status.mirror)
                if {k: v for k, v in before.traffic.items() if v} == {k: v for k, v in after.traffic.items() if v} \
                        and {k: v for k, v in before.mirror.items() if v} == {k: v for k, v in after.mirror.items()
                                                                               if v}:
                    raise EngineError(422, f"the proposal changes nothing: endpoint {endpoint!r} is already at "
                                      "that split", problems=["traffic: equals the current split"])
                now = _now()
                with self.store.transaction() as db:
                    cursor = db.execute(
                        "INSERT INTO proposals (endpoint, state, expires, body) VALUES (?, ?, ?, '{}')",
                        (endpoint, ProposalState.PENDING.value, ""),
                    )
                    assert cursor.lastrowid is not None
                    proposal = ChangeProposal(
                        id=cursor.lastrowid, endpoint=endpoint, revision=revision, before=before, after=after,
                        reason=reason, proposer=caller.actor, proposer_identity=caller.identity, created=now,
                        expires=now + timedelta(seconds=expires_in_s), verdicts=tuple(verdicts),
                    )
                    self._save(db, proposal)
                    self.store.append_audit(
                        db, caller.actor, "proposal.create", "ok", endpoint=endpoint,
                        before={"revision": revision, **_split_json(before)},
                        after={"proposal": proposal.id, "expires": proposal.expires.isoformat(),
                               **_split_json(after)},
                        reason=reason, identity=caller.identity,
                    )
            return proposal

    # -- deciding ------------------------------------------------------------------

    def _open(self, proposal_id: int, caller: Caller, verb: str) -> ChangeProposal:
        """The proposal, if it is still pending and `caller` may decide it."""
        proposal = self.get(proposal_id)
        if not proposal.state.closed:
            self._settle_one(proposal, _now())
            proposal = self.get(proposal_id)
        if proposal.state.closed:
            raise EngineError(409, proposal.closed_text(), proposal=proposal.model_dump(mode="json"),
                              current=self.engine.endpoint(proposal.endpoint).model_dump(mode="json"))
        if caller.same_as(proposal.proposer, proposal.proposer_identity):
            raise EngineError(
                403, f"you proposed it: proposal {proposal.id} was made by {proposal.proposer_text()}; another "
                f"identity must {verb} it", proposal=proposal.model_dump(mode="json"),
            )
        approvers = self.engine._endpoints[proposal.endpoint][0].policy
        names = approvers.approvers if approvers is not None else ()
        if names and not caller.named_in(names):
            raise EngineError(
                403, f"{caller.text()} is not an approver of endpoint {proposal.endpoint!r} "
                f"(its policy names: {', '.join(names)})", approvers=list(names),
            )
        return proposal

    async def approve(self, proposal_id: int, reason: str, caller: Caller) -> ChangeProposal:
        """Apply the proposal onto the revision it was made on; the proposal, approved."""
        engine = self.engine
        endpoint = self.get(proposal_id).endpoint  # 404 first: nothing to record it against
        async with engine.lock:
            with engine._audit_refusal(caller.actor, "proposal.approve", endpoint, None,
                                       {"proposal": proposal_id}, reason):
                proposal = self._open(proposal_id, caller, "approve")
                engine.rollouts.check_manual(endpoint)  # under a rollout: abort or promote it instead
                latest = self.store.latest_revision(endpoint)
                assert latest is not None
                if latest.number != proposal.revision:
                    raise self._stale(proposal, latest.number)
                why = f"proposal {proposal.id} by {proposal.proposer}, approved by {caller.actor}"
                why += f": {proposal.reason}" if proposal.reason else ""
                why += f" (approver: {reason})" if reason else ""
                engine._commit_split(endpoint, latest, proposal.after.traffic, proposal.after.mirror, why,
                                     caller.actor, "shift", None)
                applied = self.store.latest_revision(endpoint)
                assert applied is not None
                done = self._decide(proposal, ProposalState.APPROVED, caller, reason, applied.number)
            return done

    async def reject(self, proposal_id: int, reason: str, caller: Caller) -> ChangeProposal:
        engine = self.engine
        endpoint = self.get(proposal_id).endpoint
        async with engine.lock:
            with engine._audit_refusal(caller.actor, "proposal.reject", endpoint, None,
                                       {"proposal": proposal_id}, reason):
                if not reason.strip():
                    raise EngineError(422, "a rejection needs a reason (the proposer reads it)",
                                      problems=["reason: empty"])
                proposal = self._open(proposal_id, caller, "reject")
                return self._decide(proposal, ProposalState.REJECTED, caller, reason, None)

    def _decide(self, proposal: ChangeProposal, state: ProposalState, caller: Caller, reason: str,
                applied: int | None) -> ChangeProposal:
        done = proposal.model_copy(update={
            "state": state, "decided_by": caller.actor, "decided_identity": caller.identity, "decided": _now(),
            "decision_reason": reason, "applied_revision": applied,
        })
        with self.store.transaction() as db:
            self._save(db, done)
            verb = "approve" if state is ProposalState.APPROVED else "reject"
            self.store.append_audit(
                db, caller.actor, f"proposal.{verb}", "ok", endpoint=proposal.endpoint,
                before={"proposal": proposal.id, "revision": proposal.revision, **_split_json(proposal.before),
                        "proposer": proposal.proposer, "proposer_identity": proposal.proposer_identity},
                after={"proposal": proposal.id, "state": state.value, "applied_revision": applied,
                       **_split_json(proposal.after)},
                reason=reason, identity=caller.identity,
            )
        return done

    # -- expiry and staleness --------------------------------------------------------

    def settle(self) -> None:
        """Close pending proposals that expired or whose endpoint moved on (each audited)."""
        now = _now()
        rows = self.store.db.execute("SELECT body FROM proposals WHERE state = ?", (ProposalState.PENDING.value,))
        for row in rows.fetchall():
            self._settle_one(ChangeProposal.model_validate_json(row["body"]), now)

    def _settle_one(self, proposal: ChangeProposal, now: datetime) -> None:
        if now >= proposal.expires:
            self._close(proposal, ProposalState.EXPIRED,
                        f"nobody approved it within {int((proposal.expires - proposal.created).total_seconds())} s")
            return
        latest = self.store.latest_revision(proposal.endpoint)
        if latest is None or latest.number != proposal.revision:
            self._stale(proposal, latest.number if latest else 0)

    def _stale(self, proposal: ChangeProposal, current: int) -> EngineError:
        why = (f"endpoint {proposal.endpoint!r} changed since revision {proposal.revision} (now at revision "
               f"{current}); nothing was applied: propose again from the current split")
        closed = self._close(proposal, ProposalState.STALE, why)
        return EngineError(409, closed.closed_text(), proposal=closed.model_dump(mode="json"),
                           current=self.engine.endpoint(proposal.endpoint).model_dump(mode="json"))

    def _close(self, proposal: ChangeProposal, state: ProposalState, why: str) -> ChangeProposal:
        done = proposal.model_copy(update={"state": state, "decided_by": ENGINE_ACTOR, "decided": _now(),
                                           "decision_reason": why})
        with self.store.transaction() as db:
            self._save(db, done)
            self.store.append_audit(
                db, ENGINE_ACTOR, f"proposal.{'expire' if state is ProposalState.EXPIRED else 'stale'}", "ok",
                endpoint=proposal.endpoint, before={"proposal": proposal.id, "state": "pending"},
                after={"proposal": proposal.id, "state": state.value}, reason=why, identity=None,
            )
        return done

    def _save(self, db: sqlite3.Connection, proposal: ChangeProposal) -> None:
        db.execute(
            "UPDATE proposals SET state = ?, expires = ?, body = ? WHERE id = ?",
            (proposal.state.value, proposal.expires.isoformat(), proposal.model_dump_json(), proposal.id),
        )

    def in_window(self, endpoint: str, since: datetime, until: datetime) -> list[ChangeProposal]:
        """Proposals of `endpoint` made or decided between `since` and `until` (release records)."""
        out = []
        for proposal in self.find(endpoint=endpoint):
            times = [proposal.created] + ([proposal.decided] if proposal.decided else [])
            if any(since <= t <= until for t in times):
                out.append(proposal)
        return out


def dumps(proposals: list[ChangeProposal]) -> list[dict[str, Any]]:
    return [json.loads(p.model_dump_json()) for p in proposals]
