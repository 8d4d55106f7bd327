"""The flat public API: ``import avatarwire`` and its three ``connect`` calls."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import subprocess
import sys
import time
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

import avatarwire
from avatarwire.bindings import retry as old_retry
from avatarwire.bindings.opening import ConnectKeywords, Unpack
from avatarwire.emulator import EmulatorThread

PCM = b"\x10\x00\xf0\xff" * 4000  # half a second at 16 kHz
CALLBACKS_AND_RETRY = {"transport_frames", "on_error", "on_close", "retry", "on_retry"}


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(realtime=False) as emu:
        yield emu


def test_importing_avatarwire_loads_no_binding_event_loop_or_emulator() -> None:
    code = (
        "import sys, avatarwire\n"
        "heavy = ('asyncio', 'trio', 'ssl', 'google.protobuf', 'avatarwire.emulator')\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""


def test_every_exported_name_resolves() -> None:
    for name in avatarwire.__all__:
        assert getattr(avatarwire, name) is not None, name
    assert avatarwire.connect is avatarwire.asyncio.connect
    assert avatarwire.Emulator.__module__.startswith("avatarwire.emulator")
    with pytest.raises(AttributeError, match="no_such_name"):
        avatarwire.no_such_name  # noqa: B018


@pytest.mark.parametrize("binding", ["asyncio", "trio", "blocking"])
def test_connect_takes_every_option_as_a_typed_keyword(binding: str) -> None:
    connect = getattr(avatarwire, binding).connect
    hints = typing.get_type_hints(connect.__wrapped__, include_extras=True)
    assert hints["keywords"] == Unpack[ConnectKeywords]  # PEP 692: one typed declaration
    options = {field.name: field for field in dataclasses.fields(avatarwire.ConnectOptions)}
    keyword_types = typing.get_type_hints(ConnectKeywords)
    assert set(keyword_types) == set(options) | CALLBACKS_AND_RETRY
    option_types = typing.get_type_hints(avatarwire.ConnectOptions)
    for name in options:
        if name != "timeouts":  # None there means Timeouts()
            assert keyword_types[name] == option_types[name], name
    assert keyword_types["timeouts"] == avatarwire.Timeouts | None


def test_a_misspelt_keyword_is_a_type_error_under_mypy(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api", reason="mypy comes with the 'test' extra")
    program = tmp_path / "typo.py"
    program.write_text(
        "import avatarwire\n"
        "config = avatarwire.SessionConfig(api_key='k', app_id='a', avatar_id='v')\n"
        "with avatarwire.blocking.connect(config, max_queued_event=5):\n"
        "    pass\n"
        "with avatarwire.blocking.connect(config, ping_interval='20'):\n"
        "    pass\n"
        "async def main() -> None:\n"
        "    async with avatarwire.trio.connect(config, retyr=None):\n"
        "        pass\n"
        "    async with avatarwire.connect(config, queue_events=False, timeouts=None):\n"
        "        pass\n"
    )
    # Checked from the repository root, so mypy reuses the project's cache and settings.
    stdout, stderr, status = api.run(["--strict", str(program)])
    assert status == 1, stdout + stderr
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["3", "5", "8"], stdout
    assert 'did you mean "max_queued_events"' in errors[0], errors[0]
    assert '"ping_interval"' in errors[1] and 'did you mean "retry"' in errors[2], stdout


# --- callbacks and iteration together ----------------------------------------------------


def test_asyncio_callbacks_and_iteration_both_see_every_frame(emulator: EmulatorThread) -> None:
    async def scenario() -> tuple[int, int, int]:
        called: list[bool] = []
        async with avatarwire.connect(
            emulator.session_config(), transport_frames=lambda data, last: called.append(last)
        ) as session:
            req_id = await session.send_audio(PCM, end=True)
            iterated = [frame.end async for frame in session.frames(req_id)]
            status = session.request(req_id)
            assert status is not None
            return len(called), len(iterated), status.frames

    called, iterated, frames = asyncio.run(scenario())
    assert called == iterated == frames > 0


def test_trio_frames_end_when_the_request_finishes(emulator: EmulatorThread) -> None:
    async def scenario() -> tuple[int, int]:
        errors: list[avatarwire.AvatarError] = []
        async with avatarwire.trio.connect(
            emulator.session_config(), on_error=errors.append
        ) as session:
            req_id = await session.send_audio(PCM, end=True)
            frames = [frame async for frame in session.frames(req_id)]
            status = session.request(req_id)
            assert status is not None and status.finished and not errors
            return len(frames), status.frames

    iterated, counted = trio.run(scenario)
    assert iterated == counted > 0


def test_blocking_frames_then_the_events_of_the_next_request(emulator: EmulatorThread) -> None:
    with avatarwire.blocking.connect(emulator.session_config()) as session:
        first = session.send_audio(PCM, end=True)
        frames = list(session.frames(first))
        assert frames and frames[-1].end and all(f.req_id == first for f in frames)
        second = session.send_audio(PCM, end=True)
        assert second != first
        assert len(list(session.frames(second))) == len(frames)


def test_queue_events_false_leaves_events_to_the_callbacks(emulator: EmulatorThread) -> None:
    called: list[bool] = []
    with avatarwire.blocking.connect(
        emulator.session_config(),
        transport_frames=lambda data, last: called.append(last),
        queue_events=False,
    ) as session:
        req_id = session.send_audio(PCM, end=True)
        session.wait_for_request(req_id, timeout=10)
    assert called and called[-1]
    assert isinstance(session.next_event(timeout=0), avatarwire.SessionClosed)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_unread_events_are_reported_once_when_reading_pauses(emulator: EmulatorThread) -> None:
    records = _Records()  # on the logger itself: other tests may stop propagation
    logger = logging.getLogger("avatarwire.session")
    logger.addHandler(records)
    try:
        with avatarwire.blocking.connect(emulator.session_config(), max_queued_events=2) as session:
            req_id = session.send_audio(PCM, end=True)
            deadline = time.monotonic() + 10
            while not records.messages and time.monotonic() < deadline:
                session.wait(0.01)  # reads until the unread queue is full, then idles
            assert len(list(session.frames(req_id))) > 2
    finally:
        logger.removeHandler(records)
    warnings = [message for message in records.messages if "wait unread" in message]
    assert len(warnings) == 1 and "queue_events=False" in warnings[0]


# --- retry as an option of connect ------------------------------------------------------


def test_retry_is_an_option_of_connect_and_the_old_helpers_still_work(
    emulator: EmulatorThread,
) -> None:
    bad = emulator.session_config(api_key="not-the-key-0000")
    policy = avatarwire.RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02)
    retries: list[int] = []
    with (
        pytest.raises(avatarwire.AvatarError) as refused,
        avatarwire.blocking.connect(
            bad, retry=policy, on_retry=lambda attempt, error, delay: retries.append(attempt)
        ),
    ):
        pass
    assert refused.value.retry is avatarwire.Retry.NO and retries == []
    with old_retry.connect_with_retry_blocking(emulator.session_config(), policy=policy) as s:
        assert s.connection_id


def test_a_given_token_with_retry_is_refused_naming_both() -> None:
    config = avatarwire.SessionConfig(api_key="key-1234", app_id="app", avatar_id="avatar")
    with (
        pytest.raises(TypeError, match=r"session_token.*retry"),
        avatarwire.blocking.connect(config, session_token="t", retry=avatarwire.RetryPolicy()),
    ):
        pass
