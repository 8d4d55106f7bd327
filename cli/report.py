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
    """Where a request stands, or how it ended and who ended it."""
    return outcome.outcome_text


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def _rate(per_second: float | None) -> str:
    return "-" if per_second is None else f"{per_second:.1f}"


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


def _audio_line(result: SpeakResult) -> str:
    audio = result.audio
    resampled = f", resampled to {audio.sample_rate} Hz" if audio.source_rate else ""
    return f"{audio.source}: {audio.described}{resampled}"


def render_table(result: SpeakResult) -> Table:
    """The final table: one row per request."""
    tally = result.tally
    where = "built-in emulator" if result.emulator else "service"
    table = Table(
        title=f"connection {tally.connection_id or '-'}",
        caption=f"{result.binding} binding, {where}; {_audio_line(result)}",
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("#", justify="right")
    table.add_column("req_id", overflow="fold")
    table.add_column("audio s", justify="right")
    table.add_column("frames", justify="right")
    table.add_column("1st frame", justify="right")  # after the first audio
    table.add_column("frames/s", justify="right")
    table.add_column("end→last", justify="right")  # from the end of the audio to the last frame
    table.add_column("outcome", overflow="fold")
    for outcome in tally.requests:
        table.add_row(
            str(outcome.index + 1),
            outcome.req_id or "-",
            f"{outcome.audio_seconds:.2f}",
            str(outcome.frames),
            _ms(outcome.time_to_first_frame),
            _rate(outcome.frames_per_second),
            _ms(outcome.end_to_last_frame),
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
    tally, audio = result.tally, result.audio
    return {
        "connection_id": tally.connection_id,
        "emulator": result.emulator,
        "binding": result.binding,
        "audio": {
            "source": audio.source,
            "format": audio.described,
            "seconds": round(audio.seconds, 6),
            "resampled_from": audio.source_rate,
        },
        # What the session carried: the file's own format, or Opus encoded here (--opus).
        "audio_format": (result.config or audio).audio_format.value,
        "sample_rate": (result.config or audio).sample_rate,
        "frames_saved": result.frames_saved,
        "requests": [outcome.as_dict() for outcome in tally.requests],
        "errors": [error.as_dict() for error in tally.errors],
        "egress": result.egress_record,
        "stopped_by_user": tally.stopped_by_user,
    }


def summary_json(result: SpeakResult) -> str:
    """The JSON summary as one line."""
    return json.dumps(summary(result), separators=(",", ":"))
