"""The coverage-guided fuzz harnesses, run briefly with Hypothesis inputs in CI.

Each harness's ``TestOneInput`` lets only the core's own errors pass silently and
checks the session invariants (one SessionClosed, nothing after it, known event
types, every request finished); here every recorded seed and a few hundred random
inputs go through each.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
HARNESSES = (
    "client_runtime",
    "client_upgrade",
    "token_response",
    "server_ingress",
    "motion_keyframes",
)

sys.path.insert(0, str(FUZZ))


def harness(name: str) -> ModuleType:
    return importlib.import_module(name)


def seed_files() -> list[tuple[str, Path]]:
    return [
        (name, path)
        for name in HARNESSES
        for path in sorted((FUZZ / "seeds" / name).iterdir())
        if path.is_file()
    ]


def test_every_harness_has_seeds() -> None:
    for name in HARNESSES:
        assert any((FUZZ / "seeds" / name).iterdir()), f"no seeds for {name}"


@pytest.mark.parametrize(
    ("name", "seed"), seed_files(), ids=[f"{n}/{p.name}" for n, p in seed_files()]
)
def test_recorded_seed_passes_its_harness(name: str, seed: Path) -> None:
    harness(name).TestOneInput(seed.read_bytes())


def _bounded(name: str, max_size: int) -> Callable[[], None]:
    one_input = harness(name).TestOneInput

    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(st.binary(max_size=max_size))
    def run(data: bytes) -> None:
        one_input(data)

    return run


test_client_runtime_survives_any_server_bytes = _bounded("client_runtime", 600)
test_client_upgrade_survives_any_upgrade_response = _bounded("client_upgrade", 400)
test_token_exchange_survives_any_console_response = _bounded("token_response", 400)
test_server_survives_any_client_bytes = _bounded("server_ingress", 600)
test_keyframe_decoder_survives_any_frame = _bounded("motion_keyframes", 300)


def _mutations_of_seeds(name: str) -> Callable[[], None]:
    """Random byte flips and truncations of recorded seeds reach deeper than raw noise."""
    one_input = harness(name).TestOneInput
    seeds = [path.read_bytes() for path in sorted((FUZZ / "seeds" / name).iterdir())]

    @settings(max_examples=300, deadline=None, database=None)
    @given(
        st.sampled_from(seeds),
        st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6),
        st.integers(0, 1 << 16),
    )
    def run(seed: bytes, flips: list[tuple[int, int]], cut: int) -> None:
        data = bytearray(seed)
        for position, value in flips:
            if data:
                data[position % len(data)] = value
        one_input(bytes(data[: 3 + cut % (len(data) + 1)]))

    return run


test_client_runtime_survives_mutated_sessions = _mutations_of_seeds("client_runtime")
test_client_upgrade_survives_mutated_responses = _mutations_of_seeds("client_upgrade")
test_token_exchange_survives_mutated_responses = _mutations_of_seeds("token_response")
test_server_survives_mutated_client_streams = _mutations_of_seeds("server_ingress")
