"""Who is calling: the tenant the gateway authenticated, attached to the request's scope.

Routes read it with ``caller_of(scope)`` and run their work inside
``caller.serving(model, items)``, which admits it under the tenant's limits and records
its usage.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from starlette.types import Scope

from scaleserve.errors import Unauthenticated
from scaleserve.tenancy.gate import Gate, Served
from scaleserve.tenancy.records import Tenant

CALLER_KEY = "scaleserve.caller"


@dataclass(frozen=True, slots=True)
class Caller:
    tenant: Tenant
    gate: Gate

    def serving(self, model: str, items: int) -> contextlib.AbstractAsyncContextManager[Served]:
        return self.gate.serving(self.tenant, model, items)


def caller_of(scope: Scope) -> Caller:
    """The authenticated caller; ``Unauthenticated`` if the gateway attached none."""
    caller = scope.get(CALLER_KEY)
    if not isinstance(caller, Caller):
        raise Unauthenticated
    return caller
