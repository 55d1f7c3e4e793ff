"""What the registry records: versions, the serving state of each model, and its history.

A version is immutable once registered. A model's ``ModelState`` is what serves it: its
aliases (``production`` is what answers; ``canary`` is a rollout's candidate), the rollout
in progress and a pending swap of ``production``; every change to it bumps its
``revision``, and a change made against an older revision is refused (409), so of two
concurrent admin changes one wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field

from scaleserve.errors import RequestError
from scaleserve.model.spec import MODEL_NAME_PATTERN

VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ALIAS_PATTERN = re.compile(r"^(?=.*[a-z])[a-z0-9-]{1,64}$")
"""An alias has a letter, so it is never mistaken for a version number."""
TAG_KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:/-]{1,128}$")
STICKY_PATTERN = r"^(none|tenant|header:[A-Za-z0-9-]{1,64})$"
Share = Annotated[float, Field(ge=0, le=100)]
"""A share of requests, in percent."""
STABLE = "production"
"""The alias of the version that answers a model's requests."""
CANDIDATE = "canary"
"""The alias of a rollout's candidate."""


def check_model_name(name: str) -> str:
    if not MODEL_NAME_PATTERN.fullmatch(name):
        raise RequestError(
            f"{name[:80]!r} is not a model name: 1 to 64 of a-z, 0-9, '.', '_', '-', "
            "starting with a letter or digit"
        )
    return name


def check_version(version: str) -> str:
    if not VERSION_PATTERN.fullmatch(version):
        raise RequestError(
            f"{version[:80]!r} is not a version: 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-', "
            "starting with a letter or digit"
        )
    return version


def check_alias(alias: str) -> str:
    if not ALIAS_PATTERN.fullmatch(alias):
        raise RequestError(
            f"{alias[:80]!r} is not an alias: 1 to 64 of a-z, 0-9, '-', with at least a letter"
        )
    return alias


@dataclass(frozen=True)
class ArtifactFile:
    """One file of a version: where it sits in the artifact, and its content's sha256."""

    path: str
    """Relative POSIX path inside the artifact (no ``..``, never absolute)."""
    sha256: str
    size: int


@dataclass(frozen=True)
class ModelVersion:
    """One immutable version of a model: its artifact, the class that loads it, who and when."""

    model: str
    version: str
    model_class: str
    """``module:Class`` (an installed module), or ``file.py:Class`` within ``code``."""
    files: tuple[ArtifactFile, ...]
    """The artifact (weights, tokenizer, config), stored content-addressed."""
    code: tuple[ArtifactFile, ...] = ()
    """The Python files of the served file's folder, copied when it was registered."""
    created_at: float = 0.0
    registered_by: str = ""
    """The admin key id (or ``cli``) that registered it."""
    tags: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    allow_pickle: bool = False
    """An admin allowed pickle-based files (pickle, joblib, torch ``.pt``) in this version."""
    flavor: str = "scaleserve"
    """``scaleserve`` (a ``Model`` class), or ``mlflow.pyfunc`` (served by the adapter)."""
    signature: Mapping[str, Any] | None = None
    """The MLflow signature of an imported version (its inputs and outputs)."""
    description: str = ""

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class RolloutStep:
    """One step of a rollout: what share of requests the candidate answers (``weight``) and
    sees beside the stable version (``shadow``), held for enough requests and time."""

    weight: Share = 0.0
    shadow: Share = 0.0
    min_requests: Annotated[int, Field(ge=0)] = 0
    """Candidate requests (answered or shadowed) in this step before it may advance."""
    min_duration_s: Annotated[float, Field(ge=0)] = 0.0


@dataclass(frozen=True)
class Gates:
    """How much worse than the stable version the candidate may be, over the same window."""

    max_error_rate_increase: Annotated[float, Field(ge=0, le=1)] = 0.01
    """Candidate error rate ≤ stable's + this (0.01: one point)."""
    max_p95_ratio: Annotated[float, Field(ge=1)] = 1.5
    """Candidate p95 latency ≤ stable's times this, plus ``p95_slack_ms``."""
    p95_slack_ms: Annotated[float, Field(ge=0)] = 5.0
    """Latency that never counts as worse (sub-millisecond models jitter by more than 50 %)."""
    min_agreement: Annotated[float, Field(ge=0, le=1)] = 0.99
    """Shadowed requests whose outputs agree with the stable version's, at least."""
    min_samples: Annotated[int, Field(ge=1)] = 20
    """No judgement (advance or roll back) on fewer candidate requests than this."""


@dataclass(frozen=True)
class RolloutPolicy:
    steps: Annotated[tuple[RolloutStep, ...], Field(min_length=1, max_length=20)]
    gates: Gates = field(default_factory=Gates)
    sticky: Annotated[str, Field(pattern=STICKY_PATTERN)] = "none"
    """How a caller keeps its version: ``tenant``, ``header:<name>`` (e.g. a user id), or
    ``none`` (each request drawn afresh)."""
    auto_promote: bool = True
    """Promote by itself once the last step has held and passed its gates."""


@dataclass(frozen=True)
class Rollout:
    candidate: str
    policy: RolloutPolicy
    step: int = 0
    step_started_at: float = 0.0
    started_at: float = 0.0
    started_by: str = ""
    paused: bool = False

    @property
    def current(self) -> RolloutStep:
        return self.policy.steps[self.step]


@dataclass(frozen=True)
class Swap:
    """A move of ``production`` waiting for the new version to be warm (zero downtime)."""

    to: str
    requested_at: float
    requested_by: str
    reason: str = ""


@dataclass(frozen=True)
class ModelState:
    model: str
    aliases: Mapping[str, str] = field(default_factory=dict)
    rollout: Rollout | None = None
    swap: Swap | None = None
    revision: int = 0

    @property
    def stable(self) -> str | None:
        return self.aliases.get(STABLE)

    def serving_versions(self) -> list[str]:
        """The versions that need workers: stable, the candidate, a pending swap's target."""
        wanted = [self.stable, self.rollout.candidate if self.rollout else None]
        wanted.append(self.swap.to if self.swap else None)
        return list(dict.fromkeys(v for v in wanted if v is not None))


@dataclass(frozen=True)
class Event:
    """One recorded decision about a model, with its reason and the numbers behind it."""

    model: str
    at: float
    action: str
    actor: str
    reason: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    revision: int = 0
