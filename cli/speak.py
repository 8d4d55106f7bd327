"""``avatarwire speak``: put a session together (credentials or the built-in emulator,
audio format, egress), run the plan on the chosen binding, collect what happened."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from avatarwire.bindings.encoding import AudioEncoder
from avatarwire.core.config import (
    OPUS_SAMPLE_RATES,
    AgoraEgress,
    AudioFormat,
    LiveKitEgress,
    SessionConfig,
)
from avatarwire.core.errors import ConfigError
from avatarwire.emulator import EmulatorThread

from .audio import SpeechAudio
from .credentials import Credentials
from .egress import session_record
from .frames_file import FrameWriter
from .plan import StreamPlan
from .streaming import StreamJob, stream
from .tally import ProgressListener, RunTally

__all__ = ["SpeakResult", "SpeakSettings", "build_config", "speak"]

#: How long to wait for the emulator to record that the session closed.
_RECORD_SETTLE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class SpeakSettings:
    """Everything a speak run needs, checked: the command line turned into values."""

    audio: SpeechAudio
    plan: StreamPlan
    binding: str
    credentials: Credentials | None  # None: use the built-in emulator
    egress: AgoraEgress | LiveKitEgress | None = None
    realtime: bool = True
    drain_timeout: float = 30.0
    emulator_forced: bool = False
    query_auth: bool = False
    save_frames: str | None = None  # a file to write every frame to (frames_file's format)
    opus_bitrate: int | None = None  # encode the PCM to Ogg Opus at this bitrate (--opus)


@dataclass(slots=True)
class SpeakResult:
    """What a run did: the tally, and where it ran."""

    tally: RunTally
    binding: str
    audio: SpeechAudio
    emulator_url: str | None = None
    egress_record: dict[str, object] | None = field(default=None)
    frames_saved: int | None = None
    config: SessionConfig | None = None  # the session as negotiated (format, rate)

    @property
    def emulator(self) -> bool:
        """Whether the built-in emulator served the run."""
        return self.emulator_url is not None


def build_config(
    credentials: Credentials,
    audio: SpeechAudio,
    egress: AgoraEgress | LiveKitEgress | None,
    *,
    query_auth: bool = False,
    opus_bitrate: int | None = None,
) -> SessionConfig:
    """The session's configuration; the core's ``ConfigError`` names any bad value.

    With ``opus_bitrate`` the PCM is encoded on this side, so the session is Ogg Opus at
    the lowest Opus rate that keeps the PCM's bandwidth.
    """
    audio_format, sample_rate, bitrate = audio.audio_format, audio.sample_rate, audio.bitrate
    if opus_bitrate is not None:
        audio_format, bitrate = AudioFormat.OGG_OPUS, opus_bitrate
        sample_rate = min(rate for rate in OPUS_SAMPLE_RATES if rate >= audio.sample_rate)
    return SessionConfig(
        api_key=credentials.api_key,
        app_id=credentials.app_id,
        avatar_id=credentials.avatar_id,
        region=credentials.region or "us-west",
        console_url=credentials.console_url,
        ingress_url=credentials.ingress_url,
        sample_rate=sample_rate,
        audio_format=audio_format,
        bitrate=bitrate,
        use_query_auth=query_auth,
        agora=egress if isinstance(egress, AgoraEgress) else None,
        livekit=egress if isinstance(egress, LiveKitEgress) else None,
    )


def _opus_encoder(settings: SpeakSettings) -> AudioEncoder | None:
    """The client-side Opus encoder ``--opus`` asks for (PyAV is imported only then)."""
    if settings.opus_bitrate is None:
        return None
    from avatarwire.bindings.opus import OpusEncoder

    return OpusEncoder(input_rate=settings.audio.sample_rate)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _emulator_record(emulator: EmulatorThread, connection_id: str) -> dict[str, object] | None:
    """This session's egress record, once the emulator noted the close (bounded wait)."""
    deadline = time.monotonic() + _RECORD_SETTLE_SECONDS
    record = session_record(emulator.egress(), connection_id)
    while record is not None and not record.get("closed") and time.monotonic() < deadline:
        time.sleep(0.02)
        record = session_record(emulator.egress(), connection_id)
    return record


def speak(
    settings: SpeakSettings,
    *,
    listener: ProgressListener | None = None,
    notice: Callable[[str], None] = lambda text: None,
) -> SpeakResult:
    """Run ``settings``; service errors end up in the result, not raised.

    Without credentials the emulator is started on a thread for the run (real-time
    unless the run is fast) and ``notice`` is told where it listens.
    """
    with contextlib.ExitStack() as stack:
        credentials = settings.credentials
        emulator: EmulatorThread | None = None
        if credentials is None:
            emulator = stack.enter_context(EmulatorThread(realtime=settings.realtime))
            credentials = Credentials(
                api_key=emulator.api_key,
                app_id=emulator.app_id,
                avatar_id=emulator.avatar_id,
                console_url=emulator.console_url,
                ingress_url=emulator.ingress_url,
            )
            why = (
                "--emulator given" if settings.emulator_forced else "no AVATARKIT_* credentials set"
            )
            notice(f"{why}: using the built-in emulator at {_origin(emulator.console_url)}")
        config = build_config(
            credentials,
            settings.audio,
            settings.egress,
            query_auth=settings.query_auth,
            opus_bitrate=settings.opus_bitrate,
        )
        tally = RunTally(settings.plan, listener)
        frames_out = None
        if settings.save_frames is not None:
            try:
                file = stack.enter_context(open(settings.save_frames, "wb"))
            except OSError as exc:
                shown, why = settings.save_frames, exc.strerror or str(exc)
                raise ConfigError("--save-frames", shown, f"a file it can write ({why})") from None
            frames_out = FrameWriter(file)
        job = StreamJob(
            config,
            tally,
            settings.drain_timeout,
            threading.Event(),
            frames_out,
            encoder=_opus_encoder(settings),
        )
        stream(settings.binding, job)
        result = SpeakResult(tally, settings.binding, settings.audio, config=config)
        if frames_out is not None:
            result.frames_saved = frames_out.count
        if emulator is not None:
            result.emulator_url = _origin(emulator.console_url)
            if settings.egress is not None and tally.connection_id:
                result.egress_record = _emulator_record(emulator, tally.connection_id)
        return result
