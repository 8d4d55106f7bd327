"""Egress from the command line: the Agora / LiveKit flags turned into a session's
egress, and this session's entry picked out of the emulator's egress record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

from avatarwire.core.config import AgoraEgress, LiveKitEgress

__all__ = ["EgressFlagError", "EgressFlags", "build_egress", "session_record"]


class EgressFlagError(ValueError):
    """The egress flags do not make one egress (a flag without its channel, both kinds...)."""


@dataclass(frozen=True, slots=True)
class EgressFlags:
    """The egress flags as given (``None`` / empty: not given)."""

    agora_channel: str | None = None
    agora_token: str | None = field(default=None, repr=False)
    agora_uid: int | None = None
    agora_publisher_id: str | None = None
    livekit_url: str | None = None
    livekit_room: str | None = None
    livekit_token: str | None = field(default=None, repr=False)
    livekit_api_key: str | None = field(default=None, repr=False)
    livekit_api_secret: str | None = field(default=None, repr=False)
    livekit_publisher_id: str | None = None
    livekit_attribute: Sequence[str] = ()  # KEY=VALUE pairs
    livekit_idle_timeout: int | None = None

    def given(self, prefix: str) -> list[str]:
        """The flags of one kind (``agora`` / ``livekit``) that were given, as spelled."""
        names = [item.name for item in fields(self) if item.name.startswith(prefix + "_")]
        return [
            "--" + name.replace("_", "-") for name in names if getattr(self, name) not in (None, ())
        ]


def _attributes(pairs: Sequence[str]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise EgressFlagError(f"--livekit-attribute expects KEY=VALUE, got {pair!r}")
        attributes[key] = value
    return attributes


def _agora(flags: EgressFlags) -> AgoraEgress:
    if not flags.agora_channel:
        raise EgressFlagError(f"{', '.join(flags.given('agora'))} needs --agora-channel")
    return AgoraEgress(
        channel_name=flags.agora_channel,
        token=flags.agora_token or "",
        uid=flags.agora_uid or 0,
        publisher_id=flags.agora_publisher_id or "",
    )


def _livekit(flags: EgressFlags) -> LiveKitEgress:
    missing = [
        flag
        for flag, value in (
            ("--livekit-url", flags.livekit_url),
            ("--livekit-room", flags.livekit_room),
        )
        if not value
    ]
    if missing:
        raise EgressFlagError(f"LiveKit egress needs {' and '.join(missing)}")
    assert flags.livekit_url is not None and flags.livekit_room is not None
    return LiveKitEgress(
        url=flags.livekit_url,
        room_name=flags.livekit_room,
        api_token=flags.livekit_token or "",
        api_key=flags.livekit_api_key or "",
        api_secret=flags.livekit_api_secret or "",
        publisher_id=flags.livekit_publisher_id or "",
        extra_attributes=_attributes(flags.livekit_attribute),
        idle_timeout=flags.livekit_idle_timeout or 0,
    )


def build_egress(flags: EgressFlags) -> AgoraEgress | LiveKitEgress | None:
    """The one egress the flags ask for, or ``None``.

    Raises :class:`EgressFlagError` for flags that do not fit together and the core's
    ``ConfigError`` for values the service would refuse (both are usage errors).
    """
    agora, livekit = flags.given("agora"), flags.given("livekit")
    if agora and livekit:
        raise EgressFlagError(
            f"choose one egress: Agora ({', '.join(agora)}) or LiveKit ({', '.join(livekit)})"
        )
    if agora:
        return _agora(flags)
    if livekit:
        return _livekit(flags)
    return None


#: Emulator record kinds and what their places are called.
_PLACE_NAMES = {"agora": "channel", "livekit": "room"}


def session_record(report: Mapping[str, object], connection_id: str) -> dict[str, object] | None:
    """This session's entry of an emulator egress record, with its kind and place."""
    for kind, place_name in _PLACE_NAMES.items():
        places = report.get(kind)
        if not isinstance(places, Mapping):
            continue
        for place, publishers in places.items():
            for publisher in publishers if isinstance(publishers, list) else ():
                if (
                    isinstance(publisher, Mapping)
                    and publisher.get("connection_id") == connection_id
                ):
                    return {"kind": kind, place_name: place, **publisher}
    return None
