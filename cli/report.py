"""How a speak run is shown: live progress bars and a final table on a terminal
(rich), or one JSON object for scripts."""

from __future__ import annotations

import json
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table

from .speak import SpeakResult
from .tally import RequestOutcome

__all__ = ["LiveProgress", "egress_line", "print_errors", "render_table", "summary", "summary_json"]


def outcome_word(outcome: RequestOutcome) -> str:
    """One word for where a request stands."""
    if outcome.interrupted:
        return "interrupted"
    if outcome.completed:
        return "completed"
    if outcome.audio_bytes < outcome.planned_bytes:
        return "sending"
    return "waiting"


class LiveProgress:
    """One progress bar per request: audio sent against the request's audio, frames back."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[sent]}"),
            TextColumn("frames {task.fields[frames]:>5}"),
            TextColumn("{task.fields[state]}"),
            console=console,
        )
        self._tasks: dict[int, TaskID] = {}

    def __enter__(self) -> LiveProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def update(self, outcome: RequestOutcome) -> None:
        """Show the request's latest numbers."""
        sent = f"{outcome.audio_seconds:5.2f}/{outcome.planned_seconds:.2f} s"
        state = outcome_word(outcome)
        task = self._tasks.get(outcome.index)
        if task is None:
            task = self._progress.add_task(
                f"request {outcome.index + 1}",
                total=outcome.planned_bytes or 1,
                sent=sent,
                frames=outcome.frames,
                state=state,
            )
            self._tasks[outcome.index] = task
        self._progress.update(
            task, completed=outcome.audio_bytes, sent=sent, frames=outcome.frames, state=state
        )


def render_table(result: SpeakResult) -> Table:
    """The final table: one row per request."""
    tally = result.tally
    where = "built-in emulator" if result.emulator else "service"
    table = Table(
        title=f"connection {tally.connection_id or '-'}",
        caption=f"{result.binding} binding, {where}",
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("#", justify="right")
    table.add_column("req_id")
    table.add_column("audio s", justify="right")
    table.add_column("audio bytes", justify="right")
    table.add_column("frames", justify="right")
    table.add_column("outcome")
    for outcome in tally.requests:
        table.add_row(
            str(outcome.index + 1),
            outcome.req_id or "-",
            f"{outcome.audio_seconds:.2f}",
            str(outcome.audio_bytes),
            str(outcome.frames),
            outcome_word(outcome),
        )
    return table


def egress_line(record: dict[str, object]) -> str:
    """One line about what the emulator's egress sink recorded for this session."""
    kind = str(record.get("kind", "egress"))
    place = record.get("channel", record.get("room", "?"))
    requests = record.get("requests")
    published = requests if isinstance(requests, list) else []
    seconds = sum(float(item.get("audio_seconds", 0.0)) for item in published)
    keyframes = sum(int(item.get("keyframes", 0)) for item in published)
    where = "channel" if kind == "agora" else "room"
    return (
        f"{kind} egress ({where} {place!s}, publisher {record.get('publisher_id') or '-'}, "
        f"uid {record.get('uid')}): {len(published)} request(s), {seconds:.2f} s audio, "
        f"{keyframes} keyframes, {record.get('interrupts', 0)} interrupt(s)"
    )


def print_errors(result: SpeakResult, console: Console) -> None:
    """Each error on its own line: ``error: [code] message (phase)``."""
    for error in result.tally.errors:
        phase = f" during {error.phase}" if error.phase else ""
        console.print(
            f"error: [{error.code}]{phase}: {error.message}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def summary(result: SpeakResult) -> dict[str, object]:
    """The JSON summary of a run."""
    tally = result.tally
    return {
        "connection_id": tally.connection_id,
        "emulator": result.emulator,
        "binding": result.binding,
        "requests": [outcome.as_dict() for outcome in tally.requests],
        "errors": [error.as_dict() for error in tally.errors],
        "egress": result.egress_record,
        "stopped_by_user": tally.stopped_by_user,
    }


def summary_json(result: SpeakResult) -> str:
    """The JSON summary as one line."""
    return json.dumps(summary(result), separators=(",", ":"))
