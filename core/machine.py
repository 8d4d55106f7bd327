"""The one way the core writes a state machine: a table, one move, an ERROR that keeps why.

Every machine in the core (client session, server connection, HTTP exchanges, proxy
tunnel) is the same three things:

- an ``Enum`` of states and an ``Enum`` of triggers (what happened);
- one table ``{(state, trigger): next_state}`` that is the whole protocol: a pair
  not in it cannot happen, and asking for it raises :class:`LocalProtocolError`;
- one failed state (``ERROR`` or ``FAILED``), distinct from a clean end, that is
  entered with its cause and keeps it: ``machine.cause`` says why it ended.

States with no way out of them (no row of the table starts there) are final. A
move into the failed state needs the :class:`AvatarError` that explains it, and no
other move takes one, so "ended in ERROR" and "an error was reported" never differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Generic, TypeVar

from .errors import AvatarError, LocalProtocolError

__all__ = ["Machine", "final_states"]

StateT = TypeVar("StateT", bound=Enum)
TriggerT = TypeVar("TriggerT", bound=Enum)


def final_states(
    table: Mapping[tuple[StateT, TriggerT], StateT], states: type[StateT]
) -> frozenset[StateT]:
    """The states no row of ``table`` leaves: where a machine's life ends."""
    leaving = {state for state, _ in table}
    return frozenset(state for state in states if state not in leaving)


class Machine(Generic[StateT, TriggerT]):
    """A state, the table that moves it, and the cause once it failed."""

    __slots__ = ("_cause", "_error_state", "_final", "_name", "_state", "_table")

    def __init__(
        self,
        name: str,
        table: Mapping[tuple[StateT, TriggerT], StateT],
        initial: StateT,
        *,
        error_state: StateT,
    ) -> None:
        """``name`` says whose machine it is in the errors a wrong move raises."""
        self._name = name
        self._table = table
        self._state = initial
        self._error_state = error_state
        self._final = final_states(table, type(initial))
        self._cause: AvatarError | None = None

    @property
    def state(self) -> StateT:
        """Where the machine stands."""
        return self._state

    @property
    def cause(self) -> AvatarError | None:
        """Why the machine failed: the error it entered its failed state with, else ``None``."""
        return self._cause

    @property
    def failed(self) -> bool:
        """Whether the machine is in its failed state."""
        return self._state is self._error_state

    @property
    def ended(self) -> bool:
        """Whether the machine is in a final state (cleanly or failed): nothing moves it."""
        return self._state in self._final

    def can(self, trigger: TriggerT) -> bool:
        """Whether ``trigger`` is allowed in the current state."""
        return (self._state, trigger) in self._table

    def fails_on(self, trigger: TriggerT) -> bool:
        """Whether ``trigger`` would move the machine into its failed state (so a cause
        is worth building)."""
        return self._table.get((self._state, trigger)) is self._error_state

    def move(self, trigger: TriggerT, cause: AvatarError | None = None) -> StateT:
        """Take the table's step for ``trigger``; ``cause`` goes with a move into the
        failed state, and only with one. Returns the new state."""
        target = self._table.get((self._state, trigger))
        if target is None:
            raise LocalProtocolError(
                f"{self._name}: {trigger.name} cannot happen while {self._state.name}"
            )
        if (target is self._error_state) != (cause is not None):
            needs = "needs its cause" if cause is None else "takes no cause"
            raise LocalProtocolError(
                f"{self._name}: {trigger.name} from {self._state.name} to {target.name} {needs}"
            )
        self._state = target
        if cause is not None:
            self._cause = cause
        return target

    def __repr__(self) -> str:
        cause = f" cause={self._cause.code.value}" if self._cause is not None else ""
        return f"<Machine {self._name} {self._state.name}{cause}>"
