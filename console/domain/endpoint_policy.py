"""An endpoint's policy: the rules its changes must follow (steps, bake time, production,
approval). It lives with the endpoint on the engine (EndpointSpec.policy), so every console
that connects applies the same ones; the guards read it (console/domain/policy.py).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


DEFAULT_STEPS = (5, 25, 50, 100)


class EndpointPolicy(Frozen):
    """The rules an endpoint's changes must follow. It lives with the endpoint on the engine,
    so every console that connects applies the same ones."""

    steps: tuple[int, ...] = Field(default=DEFAULT_STEPS, description="rollout plan presets, percent")
    max_step: int = Field(default=25, ge=1, le=100, description="most points a share may rise per change")
    bake_s: float = Field(default=300, ge=0, le=7 * 86400,
                          description="time at ≥ max_step% after which a larger rise is allowed")
    freshness_s: float = Field(default=5, gt=0, le=3600, description="oldest data a change may be made from")
    min_requests: int = Field(default=20, ge=1, le=1_000_000,
                              description="fewer requests in the SLO window leave health unknown")
    max_utilization_percent: float = Field(default=80, gt=0, le=100,
                                           description="projected CPU/GPU use above this warns")
    production: bool = False
    approval_required: bool = False
    approvers: tuple[str, ...] = Field(default=(), description="who may approve; empty: anyone but the proposer")

    @field_validator("steps")
    @classmethod
    def _steps_increase(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        for step in value:
            if not 1 <= step <= 100:
                raise ValueError(f"each step is a share of 1..100 percent, got {step}")
        if list(value) != sorted(set(value)):
            raise ValueError(f"steps must rise strictly, got {list(value)}")
        return value

    @field_validator("approvers")
    @classmethod
    def _approvers_named(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names = [a.strip() for a in value]
        if any(not n for n in names):
            raise ValueError("an approver's name cannot be empty")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"approvers are listed twice: {dupes}")
        return tuple(names)
