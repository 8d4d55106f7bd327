"""Session configuration: every validation rule, region defaults, masking of secrets."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from avatarwire.core.config import (
    OPUS_DEFAULT_BITRATE,
    OPUS_SAMPLE_RATES,
    PCM_SAMPLE_RATES,
    REGIONS,
    AgoraEgress,
    AudioFormat,
    LiveKitEgress,
    SessionConfig,
    expire_at_seconds,
    mask_secret,
)
from avatarwire.core.errors import ConfigError

API_KEY = "sk-DISTINCTIVE-api-key-7f3a"
AGORA_TOKEN = "agora-DISTINCTIVE-token-91c"
LK_TOKEN = "lk-DISTINCTIVE-jwt-55e"
LK_KEY = "lk-DISTINCTIVE-key-a01"
LK_SECRET = "lk-DISTINCTIVE-secret-b02"
SECRETS = (API_KEY, AGORA_TOKEN, LK_TOKEN, LK_KEY, LK_SECRET)


def make(**overrides: Any) -> SessionConfig:
    values: dict[str, Any] = {"api_key": API_KEY, "app_id": "app-1", "avatar_id": "avatar-1"}
    values.update(overrides)
    return SessionConfig(**values)


def livekit(**overrides: Any) -> LiveKitEgress:
    values: dict[str, Any] = {"url": "wss://lk.example", "room_name": "room", "api_token": LK_TOKEN}
    values.update(overrides)
    return LiveKitEgress(**values)


def refused(field: str, build: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        build()
    assert info.value.field == field, str(info.value)
    return info.value


# --- good configs and defaults ---------------------------------------------------------


def test_minimal_config_defaults_to_us_west_pcm_16k_without_egress() -> None:
    config = make()
    assert (config.environment, config.region) == ("us-west", None)
    assert config.audio_format is AudioFormat.PCM_S16LE
    assert config.sample_rate == 16000
    assert config.bitrate == 0
    assert config.egress is None
    assert config.use_query_auth is False
    assert dict(config.extra_params) == {}
    assert config.console_endpoint.url == "https://api.spatialreal.cloud/v1/auth/session-token"
    assert config.ingress_endpoint.url == (
        "wss://driven.us-west.spatialreal.cloud/v2/driveningress/websocket?id=avatar-1"
    )
    assert config.needs_environment


def test_the_presets_are_todays_hosts() -> None:
    assert set(REGIONS) == {"us-west"}
    assert REGIONS["us-west"].console_url == "https://api.spatialreal.cloud"
    assert REGIONS["us-west"].ingress_url == (
        "https://driven.us-west.spatialreal.cloud/v2/driveningress"
    )


@pytest.mark.parametrize(
    ("console_url", "token_url"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1/auth/session-token"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1/auth/session-token"),
        ("http://127.0.0.1:8080/v1/console", "http://127.0.0.1:8080/v1/auth/session-token"),
        ("http://127.0.0.1:8080/v1/console/", "http://127.0.0.1:8080/v1/auth/session-token"),
        ("https://gw.example/api/v1/console", "https://gw.example/api/v1/auth/session-token"),
        ("https://gw.example/api?x=1", "https://gw.example/api/v1/auth/session-token?x=1"),
    ],
)
def test_the_console_url_is_the_api_root_with_an_old_suffix_stripped(
    console_url: str, token_url: str
) -> None:
    assert make(console_url=console_url).console_endpoint.url == token_url


def test_given_urls_override_the_environment_and_keep_their_query() -> None:
    config = make(
        console_url="http://127.0.0.1:8080/v1/console/",
        ingress_url="http://127.0.0.1:8080/v2/driveningress?tenant=t1",
        avatar_id="av/1 é",
        environment="nowhere",
    )
    assert config.console_endpoint.url == "http://127.0.0.1:8080/v1/auth/session-token"
    assert config.ingress_endpoint.scheme == "ws"
    assert config.ingress_endpoint.target == (
        "/v2/driveningress/websocket?tenant=t1&id=av%2F1%20%C3%A9"
    )
    assert not config.needs_environment
    assert config.with_environments({}) is config


def test_https_ingress_url_maps_to_wss() -> None:
    config = make(ingress_url="https://edge.example/v2/driveningress")
    assert (
        config.ingress_endpoint.url == "wss://edge.example/v2/driveningress/websocket?id=avatar-1"
    )


def test_one_given_url_takes_the_other_from_the_environment() -> None:
    config = make(ingress_url="ws://localhost:9000/i")
    assert config.console_endpoint.host == "api.spatialreal.cloud"
    assert config.ingress_endpoint.host == "localhost"


def test_region_is_the_old_name_of_environment() -> None:
    config = make(region="us-west")
    assert config.environment == "us-west"
    assert config.console_endpoint.host == "api.spatialreal.cloud"
    moved = dataclasses.replace(make(), environment="eu-test")
    assert moved.with_environments(
        {"eu-test": {"api": "https://api.eu", "driveningress": "https://driven.eu"}}
    ).ingress_endpoint.url == ("wss://driven.eu/v2/driveningress/websocket?id=avatar-1")
    error = refused("region", lambda: make(region="us-west", environment="eu-test"))
    assert "old name of environment" in str(error)


def test_the_config_service_answer_wins_field_by_field_over_the_preset() -> None:
    fetched = {"us-west": {"api": "http://127.0.0.1:9/"}}
    config = make().with_environments(fetched)
    assert config.console_endpoint.url == "http://127.0.0.1:9/v1/auth/session-token"
    assert config.ingress_endpoint.host == "driven.us-west.spatialreal.cloud"
    assert config.environment == "us-west"
    given = make(console_url="http://own:1").with_environments(fetched)
    assert given.console_endpoint.host == "own"


def test_an_environment_only_the_config_service_knows_resolves_at_connect_time() -> None:
    config = make(environment="staging")
    with pytest.raises(ConfigError, match="known environments: 'us-west'"):
        _ = config.console_endpoint
    with pytest.raises(ConfigError, match="'staging'"):
        _ = config.ingress_endpoint
    assert "from the environment" in repr(config)
    fetched = {"staging": {"api": "http://s:1", "driveningress": "http://s:2"}}
    resolved = config.with_environments(fetched)
    assert resolved.console_endpoint.url == "http://s:1/v1/auth/session-token"
    assert resolved.ingress_endpoint.url == "ws://s:2/v2/driveningress/websocket?id=avatar-1"
    with pytest.raises(ConfigError, match="'staging', 'us-west'") as caught:
        make(environment="nope").with_environments(fetched)
    assert caught.value.field == "environment"


@pytest.mark.parametrize("rate", PCM_SAMPLE_RATES)
def test_every_pcm_rate_is_accepted(rate: int) -> None:
    assert make(sample_rate=rate).sample_rate == rate


@pytest.mark.parametrize("rate", OPUS_SAMPLE_RATES)
def test_every_opus_rate_is_accepted_with_the_default_bitrate(rate: int) -> None:
    config = make(audio_format=AudioFormat.OGG_OPUS, sample_rate=rate)
    assert config.bitrate == OPUS_DEFAULT_BITRATE


@pytest.mark.parametrize(
    ("given", "member"), [("pcm_s16le", AudioFormat.PCM_S16LE), ("ogg_opus", AudioFormat.OGG_OPUS)]
)
def test_audio_format_string_values_are_stored_as_the_enum(given: str, member: AudioFormat) -> None:
    config = make(audio_format=given)
    assert config.audio_format is member


@pytest.mark.parametrize("bitrate", [6000, 24000, 64000, 510000])
def test_opus_bitrate_in_range_is_kept(bitrate: int) -> None:
    assert make(audio_format="ogg_opus", bitrate=bitrate).bitrate == bitrate


def test_agora_egress_is_accepted_with_edge_values() -> None:
    channel = "Az09 !#$%&()+-:;<=.>?@[]^_{}|~," + "x" * 33
    assert len(channel) == 64
    egress = AgoraEgress(channel, token="", uid=2**32 - 1, publisher_id="pub")
    assert make(agora=egress).egress is egress


@pytest.mark.parametrize(
    "credentials",
    [
        {"api_token": LK_TOKEN},
        {"api_token": "", "api_key": LK_KEY, "api_secret": LK_SECRET},
        {"api_token": LK_TOKEN, "api_key": LK_KEY, "api_secret": LK_SECRET},
    ],
)
def test_livekit_accepts_a_token_or_a_key_and_secret_pair(credentials: dict[str, Any]) -> None:
    egress = LiveKitEgress(url="https://lk.example", room_name="r", **credentials)
    assert make(livekit=egress).egress is egress


def test_extra_mappings_are_copied_and_immutable() -> None:
    attributes = {"role": "avatar"}
    params = {"voice": "calm"}
    egress = livekit(extra_attributes=attributes, idle_timeout=30)
    config = make(livekit=egress, extra_params=params)
    attributes["role"] = "changed"
    params["voice"] = "changed"
    assert egress.extra_attributes == {"role": "avatar"}
    assert config.extra_params == {"voice": "calm"}
    with pytest.raises(TypeError):
        config.extra_params["voice"] = "x"  # type: ignore[index]
    assert hash(config) == hash(
        make(
            livekit=livekit(extra_attributes={"role": "avatar"}, idle_timeout=30),
            extra_params={"voice": "calm"},
        )
    )


def test_config_is_frozen() -> None:
    config = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.app_id = "other"  # type: ignore[misc]


# --- refusals, one rule each -------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("api_key", ""),
        ("api_key", "sk-abc\r\nX-Evil: 1"),
        ("api_key", "sk-abc\x00"),
        ("api_key", " sk-abc"),
        ("api_key", "sk-ключ"),
        ("api_key", b"sk-abc"),
        ("api_key", None),
        ("app_id", ""),
        ("app_id", "app\n"),
        ("app_id", "app\r\nX-Session-Key: stolen"),
        ("app_id", "app\x00"),
        ("app_id", "app "),
        ("app_id", "äpp"),
        ("app_id", 123),
        ("avatar_id", ""),
        ("avatar_id", "av\r\n"),
        ("avatar_id", "av\x00"),
        ("avatar_id", "\tav"),
        ("avatar_id", ["av"]),
    ],
)
def test_identifiers_must_be_clean_non_empty_strings(field: str, value: object) -> None:
    refused(field, lambda: make(**{field: value}))


def test_api_key_error_never_shows_the_key() -> None:
    error = refused("api_key", lambda: make(api_key=API_KEY + "\n"))
    assert API_KEY not in str(error) and API_KEY not in repr(error)
    assert f"({len(API_KEY) + 1} chars)" in str(error)


@pytest.mark.parametrize("name", ["", 5, b"us-west"])
@pytest.mark.parametrize("field", ["environment", "region"])
def test_a_bad_environment_name_is_refused_naming_a_known_one(field: str, name: object) -> None:
    error = refused(field, lambda: make(**{field: name}))
    assert "us-west" in str(error)


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("ingress_url", "ftp://h/x"),
        ("ingress_url", "wss://h/x\r\n"),
        ("ingress_url", "wss:///x"),
        ("ingress_url", "wss://h:70000/x"),
        ("ingress_url", 42),
        ("console_url", "wss://h/x"),
        ("console_url", "https://h/x y"),
        ("console_url", "https://h:x/"),
    ],
)
def test_bad_endpoint_urls_are_refused_naming_the_field(field: str, url: object) -> None:
    refused(field, lambda: make(**{field: url}))


@pytest.mark.parametrize("rate", [0, 11025, 12000, 16001, 96000, -16000])
def test_pcm_refuses_rates_outside_its_list(rate: int) -> None:
    error = refused("sample_rate", lambda: make(sample_rate=rate))
    assert "22050" in str(error)


@pytest.mark.parametrize("rate", [22050, 32000, 44100, 11025])
def test_opus_refuses_rates_outside_its_list(rate: int) -> None:
    error = refused("sample_rate", lambda: make(audio_format="ogg_opus", sample_rate=rate))
    assert "12000" in str(error)


@pytest.mark.parametrize("rate", ["16000", 16000.0, True, None])
def test_sample_rate_must_be_an_int(rate: object) -> None:
    refused("sample_rate", lambda: make(sample_rate=rate))


@pytest.mark.parametrize("audio_format", ["pcm", "PCM_S16LE", "opus", 0, None])
def test_unknown_audio_format_is_refused(audio_format: object) -> None:
    error = refused("audio_format", lambda: make(audio_format=audio_format))
    assert "ogg_opus" in str(error)


@pytest.mark.parametrize("bitrate", [32000, 1, -1, True])
def test_pcm_requires_bitrate_zero(bitrate: object) -> None:
    refused("bitrate", lambda: make(bitrate=bitrate))


@pytest.mark.parametrize("bitrate", [5999, 510001, -1, 32000.0, "32000", False])
def test_opus_bitrate_outside_the_codec_range_is_refused(bitrate: object) -> None:
    refused("bitrate", lambda: make(audio_format=AudioFormat.OGG_OPUS, bitrate=bitrate))


def test_two_egresses_at_once_are_refused() -> None:
    refused("agora/livekit", lambda: make(agora=AgoraEgress("c"), livekit=livekit()))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("agora", {"channel_name": "c"}),
        ("livekit", "wss://lk.example"),
        ("use_query_auth", 1),
        ("use_query_auth", "yes"),
        ("extra_params", [("a", "b")]),
        ("extra_params", {"a": 1}),
        ("extra_params", {1: "a"}),
    ],
)
def test_wrong_types_are_config_errors(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        make(**{field: value})
    assert info.value.field.startswith(field)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"channel_name": ""}, "agora.channel_name"),
        ({"channel_name": "x" * 65}, "agora.channel_name"),
        ({"channel_name": "bad/slash"}, "agora.channel_name"),
        ({"channel_name": 'quote"d'}, "agora.channel_name"),
        ({"channel_name": "é"}, "agora.channel_name"),
        ({"channel_name": "tab\t"}, "agora.channel_name"),
        ({"channel_name": 7}, "agora.channel_name"),
        ({"channel_name": "c", "uid": -1}, "agora.uid"),
        ({"channel_name": "c", "uid": 2**32}, "agora.uid"),
        ({"channel_name": "c", "uid": True}, "agora.uid"),
        ({"channel_name": "c", "uid": "5"}, "agora.uid"),
        ({"channel_name": "c", "token": None}, "agora.token"),
        ({"channel_name": "c", "publisher_id": 3}, "agora.publisher_id"),
    ],
)
def test_agora_egress_rules(kwargs: dict[str, Any], field: str) -> None:
    refused(field, lambda: AgoraEgress(**kwargs))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"url": "ftp://lk.example"}, "livekit.url"),
        ({"url": "wss://lk.example\r\n"}, "livekit.url"),
        ({"url": ""}, "livekit.url"),
        ({"room_name": ""}, "livekit.room_name"),
        ({"room_name": "r\n"}, "livekit.room_name"),
        ({"api_token": ""}, "livekit.api_token"),
        ({"api_token": "", "api_key": LK_KEY}, "livekit.api_secret"),
        ({"api_token": "", "api_secret": LK_SECRET}, "livekit.api_key"),
        ({"api_token": 5}, "livekit.api_token"),
        ({"idle_timeout": -1}, "livekit.idle_timeout"),
        ({"idle_timeout": 2**31}, "livekit.idle_timeout"),
        ({"idle_timeout": 1.5}, "livekit.idle_timeout"),
        ({"extra_attributes": {"k": None}}, "livekit.extra_attributes['k']"),
        ({"extra_attributes": "k=v"}, "livekit.extra_attributes"),
        ({"publisher_id": None}, "livekit.publisher_id"),
    ],
)
def test_livekit_egress_rules(overrides: dict[str, Any], field: str) -> None:
    refused(field, lambda: livekit(**overrides))


def test_errors_name_field_value_and_what_is_allowed() -> None:
    error = refused("sample_rate", lambda: make(sample_rate=11025))
    assert str(error).startswith("[invalidRequest]: sample_rate: got 11025; allowed for pcm_s16le:")


def test_livekit_secret_errors_never_show_the_secret() -> None:
    with pytest.raises(ConfigError) as info:
        livekit(api_token=b"lk-DISTINCTIVE-bytes")
    assert "DISTINCTIVE" not in str(info.value)


# --- repr never shows secrets ----------------------------------------------------------------


def test_reprs_show_what_helps_and_mask_every_secret() -> None:
    agora = AgoraEgress("chan", token=AGORA_TOKEN, uid=7)
    lk = livekit(
        url=f"wss://lk.example/?access_token={LK_TOKEN}",
        api_key=LK_KEY,
        api_secret=LK_SECRET,
        extra_attributes={"role": "avatar"},
    )
    texts = [
        repr(agora),
        repr(lk),
        repr(make(agora=agora)),
        repr(make(livekit=lk)),
        str(make(agora=agora)),
    ]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
    shown = repr(make(agora=agora, use_query_auth=True))
    for visible in ("app-1", "avatar-1", "us-west", "pcm_s16le", "16000", "chan", "uid=7"):
        assert visible in shown
    assert "session-token" in shown and "driveningress/websocket" in shown
    assert "room" in repr(lk) and "role" in repr(lk)


def test_mask_secret_shows_only_the_length() -> None:
    assert mask_secret("") == "''"
    assert mask_secret("abcdef") == "'***' (6 chars)"
    assert mask_secret(b"secret-bytes") == "a bytes"


# --- token expiry window -------------------------------------------------------------------

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
NOW_S = int(NOW.timestamp())


def test_expiry_exactly_now_is_refused() -> None:
    error = refused("expire_at", lambda: expire_at_seconds(NOW, now=NOW))
    assert "24 h" in str(error)


def test_expiry_one_second_after_now_is_accepted() -> None:
    assert expire_at_seconds(NOW + timedelta(seconds=1), now=NOW) == NOW_S + 1


def test_expiry_exactly_24_hours_ahead_is_accepted() -> None:
    assert expire_at_seconds(NOW + timedelta(hours=24), now=NOW) == NOW_S + 86400
    assert expire_at_seconds(NOW_S + 86400, now=NOW) == NOW_S + 86400


def test_expiry_one_second_past_24_hours_is_refused() -> None:
    refused("expire_at", lambda: expire_at_seconds(NOW + timedelta(hours=24, seconds=1), now=NOW))
    refused("expire_at", lambda: expire_at_seconds(NOW_S + 86401, now=NOW))


def test_expiry_in_the_past_is_refused() -> None:
    refused("expire_at", lambda: expire_at_seconds(NOW_S - 60, now=NOW))


def test_naive_expiry_is_refused_not_read_as_local_time() -> None:
    error = refused("expire_at", lambda: expire_at_seconds(datetime(2024, 6, 1, 13, 0, 0), now=NOW))
    assert "naive" in str(error)


def test_naive_now_is_refused() -> None:
    refused("now", lambda: expire_at_seconds(NOW_S + 60, now=datetime(2024, 6, 1, 12, 0, 0)))


def test_other_timezones_give_the_same_unix_seconds() -> None:
    tokyo = timezone(timedelta(hours=9))
    assert expire_at_seconds((NOW + timedelta(hours=1)).astimezone(tokyo), now=NOW) == NOW_S + 3600


def test_fractional_expiry_rounds_down_and_is_checked_after_rounding() -> None:
    assert expire_at_seconds(NOW_S + 10.9, now=NOW) == NOW_S + 10
    refused("expire_at", lambda: expire_at_seconds(NOW_S + 0.5, now=NOW))
    late_now = NOW + timedelta(milliseconds=300)
    assert expire_at_seconds(late_now + timedelta(hours=24), now=late_now) == NOW_S + 86400


@pytest.mark.parametrize("value", [True, float("nan"), float("inf"), "1717243200", None, 10**30])
def test_expiry_values_that_are_not_times_are_refused(value: object) -> None:
    refused("expire_at", lambda: expire_at_seconds(value, now=NOW))  # type: ignore[arg-type]
