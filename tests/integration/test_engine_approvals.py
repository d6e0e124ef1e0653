"""Approvals on a real engine: a direct change refused where policy requires approval; a proposal
approved by a second identity and applied; refused for the proposer and for a non-approver;
rejected with a reason; stale and expired proposals refused with that reason; every step audited;
and the `switchboard propose|proposals|approve|reject` commands with two CLI identities."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from console.backends.base import Conflict, Forbidden, Invalid, NotFound
from console.domain.approvals import ProposalState
from console.domain.guards import Guard, Level, Verdict
from tests.harness import RunningEngine, start_engine, wait_until
from tests.integration.release_helpers import add_endpoint, audit, caller, cli, last_seq

pytestmark = pytest.mark.integration

GATED = "policy: {approval_required: true}\n"
CANARY = {"pay-a": 90, "pay-b": 10}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    running = start_engine(tmp_path_factory.mktemp("approvals") / "state")
    try:
        add_endpoint(running, "pay", GATED)
        yield running
    finally:
        running.stop()


def reset(engine: RunningEngine, name: str = "pay") -> int:
    """Back to NAME-a=100 (a rollback needs no approval); the revision it is at."""
    with caller(engine, "ops@host", "cli-ops") as ops:
        now = ops.endpoint(name)
        if now.traffic != {f"{name}-a": 100}:
            first = ops.revisions(name)[0].number
            return int(ops.rollback(name, if_match=now.revision, to_revision=first, reason="reset")["revision"])
        return now.revision


def test_a_direct_change_is_refused_pointing_to_proposals_and_audited(engine: RunningEngine) -> None:
    revision = reset(engine)
    with caller(engine, "alice@laptop", "cli-alice") as alice, pytest.raises(Forbidden) as refused:
        alice.set_traffic("pay", CANARY, {}, if_match=revision, reason="canary")
    assert "endpoint 'pay' requires approval for traffic changes" in str(refused.value)
    assert "POST /v1/endpoints/pay/proposals" in str(refused.value) and "switchboard propose pay" in str(refused.value)
    event = audit(engine, "pay")[-1]
    assert (event["action"], event["actor"], event["identity"]) == ("traffic.shift", "alice@laptop", "cli-alice")
    assert event["outcome"].startswith("rejected (403): endpoint 'pay' requires approval")
    with caller(engine, "x@y", None) as anyone:
        assert anyone.endpoint("pay").revision == revision  # nothing changed


def test_a_second_identity_approves_and_the_engine_applies_it(engine: RunningEngine) -> None:
    revision = reset(engine)
    seq = last_seq(engine)
    verdict = Verdict(guard=Guard.STEP_SIZE, level=Level.PASS, reason="pay-b rises 10 points")
    with caller(engine, "alice@laptop", "cli-alice") as alice, caller(engine, "bob@desk", "console-bob") as bob:
        made = alice.propose("pay", CANARY, revision=revision, reason="canary 10%", verdicts=[verdict])
        assert (made.state, made.proposer, made.proposer_identity, made.revision) == (
            ProposalState.PENDING, "alice@laptop", "cli-alice", revision)
        assert made.before.traffic == {"pay-a": 100} and made.after.traffic == CANARY
        assert 3590 <= (made.expires - made.created).total_seconds() <= 3600  # one hour by default
        assert made.id in [p.id for p in bob.proposals("pending")]
        assert bob.endpoint("pay").revision == revision  # proposing changes nothing

        with pytest.raises(Forbidden) as own:
            alice.approve(made.id)
        assert f"you proposed it: proposal {made.id} was made by alice@laptop (identity cli-alice)" in str(own.value)
        # the same person at another console is another identity: the console's id decides
        with caller(engine, "alice@laptop", "cli-alice") as alice_again, pytest.raises(Forbidden):
            alice_again.approve(made.id)

        done, endpoint = bob.approve(made.id, "numbers look fine")
        assert (done.state, done.decided_by, done.decided_identity) == (ProposalState.APPROVED, "bob@desk",
                                                                        "console-bob")
        assert done.applied_revision == revision + 1 == endpoint.revision == endpoint.applied_revision
        assert endpoint.traffic == CANARY
        assert bob.proposal(made.id).verdicts == (verdict,)
        latest = bob.revisions("pay")[-1]
        assert latest.actor == "bob@desk" and f"proposal {made.id} by alice@laptop" in latest.reason
        with pytest.raises(Conflict, match=f"proposal {made.id} was already approved by bob@desk"):
            bob.approve(made.id)

    events = [(e["action"], e["actor"], e["identity"], e["outcome"][:13]) for e in audit(engine, "pay", seq)]
    assert events == [
        ("proposal.create", "alice@laptop", "cli-alice", "ok"),
        ("proposal.approve", "alice@laptop", "cli-alice", "rejected (403"),
        ("proposal.approve", "alice@laptop", "cli-alice", "rejected (403"),
        ("traffic.shift", "bob@desk", "console-bob", "ok"),
        ("proposal.approve", "bob@desk", "console-bob", "ok"),
        ("proposal.approve", "bob@desk", "console-bob", "rejected (409"),
    ]
    with caller(engine, "x@y", None) as anyone:
        assert anyone.request("GET", "/v1/audit/verify")["ok"] is True


def test_a_rejection_needs_a_reason_and_another_identity(engine: RunningEngine) -> None:
    revision = reset(engine)
    with caller(engine, "alice@laptop", "cli-alice") as alice, caller(engine, "bob@desk", "console-bob") as bob:
        made = alice.propose("pay", CANARY, revision=revision, reason="try it")
        with pytest.raises(Invalid, match="a rejection needs a reason"):
            bob.reject(made.id, " ")
        with pytest.raises(Forbidden, match="you proposed it"):
            alice.reject(made.id, "never mind")
        done = bob.reject(made.id, "not during the sale")
        assert (done.state, done.decision_reason, done.decided_by) == (ProposalState.REJECTED,
                                                                       "not during the sale", "bob@desk")
        with pytest.raises(Conflict, match=r"was rejected by bob@desk .*: not during the sale"):
            bob.approve(made.id)
        assert bob.endpoint("pay").revision == revision
    assert audit(engine, "pay")[-2]["action"] == "proposal.reject"


def test_a_stale_proposal_is_rejected_with_that_reason(engine: RunningEngine) -> None:
    revision = reset(engine)
    with caller(engine, "alice@laptop", "cli-alice") as alice, caller(engine, "bob@desk", "console-bob") as bob:
        made = alice.propose("pay", CANARY, revision=revision, reason="canary")
        other = alice.propose("pay", {"pay-a": 75, "pay-b": 25}, revision=revision, reason="bigger step")
        bob.approve(other.id)  # the endpoint moves on: the first proposal was made on an older revision
        with pytest.raises(Conflict) as stale:
            bob.approve(made.id)
        assert (f"proposal {made.id} is stale: endpoint 'pay' changed since revision {revision} "
                f"(now at revision {revision + 1}); nothing was applied") in str(stale.value)
        assert stale.value.current["traffic"] == {"pay-a": 75, "pay-b": 25}
        assert bob.proposal(made.id).state is ProposalState.STALE
        assert bob.endpoint("pay").traffic == {"pay-a": 75, "pay-b": 25}
        with pytest.raises(Conflict, match=f"is at revision {revision + 1}, not {revision}"):
            alice.propose("pay", CANARY, revision=revision)  # made on an old revision: refused at once
    stale_event = [e for e in audit(engine, "pay") if e["action"] == "proposal.stale"][-1]
    assert stale_event["actor"] == "engine" and stale_event["after"] == {"proposal": made.id, "state": "stale"}


def test_an_expired_proposal_is_rejected_with_that_reason(engine: RunningEngine) -> None:
    revision = reset(engine)
    with caller(engine, "alice@laptop", "cli-alice") as alice, caller(engine, "bob@desk", "console-bob") as bob:
        made = alice.propose("pay", CANARY, revision=revision, reason="quick", expires_in_s=1)
        wait_until(lambda: bob.proposal(made.id).state is ProposalState.EXPIRED, 10, what="the proposal to expire")
        assert made.id not in [p.id for p in bob.proposals("pending")]
        assert made.id in [p.id for p in bob.proposals("expired")]
        with pytest.raises(Conflict, match=rf"proposal {made.id} expired at .*: propose it again"):
            bob.approve(made.id)
        assert bob.endpoint("pay").revision == revision
    assert [e for e in audit(engine, "pay") if e["action"] == "proposal.expire"][-1]["actor"] == "engine"


def test_only_a_named_approver_may_approve(engine: RunningEngine) -> None:
    add_endpoint(engine, "named", "policy: {approval_required: true, approvers: [carol, console-dave]}\n")
    with caller(engine, "alice@laptop", "cli-alice") as alice, caller(engine, "bob@desk", "console-bob") as bob, \
            caller(engine, "carol@desk", "console-carol") as carol:
        first = alice.propose("named", {"named-a": 50, "named-b": 50}, revision=1, reason="half")
        with pytest.raises(Forbidden) as refused:
            bob.approve(first.id)
        assert ("bob@desk (identity console-bob) is not an approver of endpoint 'named' "
                "(its policy names: carol, console-dave)") in str(refused.value)
        assert carol.approve(first.id)[0].state is ProposalState.APPROVED  # by user name
        second = alice.propose("named", {"named-a": 100}, revision=2, reason="back")
    with caller(engine, "erin@host", "console-dave") as dave:  # by identity
        assert dave.approve(second.id)[0].applied_revision == 3


def test_bad_proposals_are_refused_with_the_problem(engine: RunningEngine) -> None:
    revision = reset(engine)
    with caller(engine, "alice@laptop", "cli-alice") as alice:
        with pytest.raises(Invalid, match="changes nothing"):
            alice.propose("pay", {"pay-a": 100}, revision=revision)
        with pytest.raises(Invalid, match="sum"):
            alice.propose("pay", {"pay-a": 90, "pay-b": 20}, revision=revision)
        with pytest.raises(Invalid, match="pay-z"):
            alice.propose("pay", {"pay-a": 90, "pay-z": 10}, revision=revision)
        with pytest.raises(NotFound, match="no proposal 99999"):
            alice.approve(99999)
        with pytest.raises(NotFound, match="no endpoint named 'nope'"):
            alice.propose("nope", CANARY, revision=1)
        with pytest.raises(Invalid, match="state"):
            alice.request("GET", "/v1/proposals", params={"state": "maybe"})


def test_cli_propose_list_approve_and_reject_with_two_identities(engine: RunningEngine, tmp_path: Path) -> None:
    reset(engine)
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    made = cli(engine, alice, "propose", "pay", "pay-a=80", "pay-b=20", "--reason", "canary 20%")
    assert made.returncode == 0, made.stderr
    number = int(made.stdout.split()[1])
    assert f"proposal {number} on pay" in made.stdout and f"switchboard approve {number}" in made.stdout
    listed = cli(engine, bob, "proposals")
    assert listed.returncode == 0 and f"{number:>4}  pending" in listed.stdout
    assert "pay-a=100 -> pay-a=80 pay-b=20  reason: canary 20%" in listed.stdout

    own = cli(engine, alice, "approve", str(number))
    assert own.returncode == 1 and f"you proposed it: proposal {number} was made by" in own.stderr
    done = cli(engine, bob, "approve", str(number))
    assert done.returncode == 0, done.stderr
    assert f"proposal {number} approved" in done.stdout and "after:  pay-a=80 pay-b=20" in done.stdout

    again = cli(engine, alice, "propose", "pay", "pay-a=50", "pay-b=50", "--expires", "10m")
    second = int(again.stdout.split()[1])
    missing = cli(engine, bob, "reject", str(second))
    assert missing.returncode == 2 and "--reason" in missing.stderr
    rejected = cli(engine, bob, "reject", str(second), "--reason", "too big a step")
    assert rejected.returncode == 0 and f"proposal {second} rejected: too big a step" in rejected.stdout
    everything = cli(engine, bob, "proposals", "--state", "all", "--endpoint", "pay")
    assert f"{second:>4}  rejected" in everything.stdout and f"{number:>4}  approved" in everything.stdout
    assert (alice / "cli-identity").read_text() != (bob / "cli-identity").read_text()
