"""The emulator's console leg and its own egress endpoint, over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from emulator_client import config_for, http, run_async

from avatarwire.bindings.asyncio import fetch_token
from avatarwire.core.errors import AvatarError, ErrorCode, Phase, error_from_http
from avatarwire.emulator import Emulator, Fault

TOKEN_PATH = "/v1/console/session-tokens"


@run_async
async def test_token_request_with_the_api_key_returns_a_session_token() -> None:
    async with Emulator() as emu:
        body = json.dumps({"expireAt": int(time.time()) + 600}).encode()
        status, payload = await http(
            emu, "POST", TOKEN_PATH, headers={"X-Api-Key": emu.api_key}, body=body
        )
        assert status == 200
        token = json.loads(payload)["sessionToken"]
        assert isinstance(token, str) and len(token) > 16
        # The client core reads it too.
        assert await fetch_token(config_for(emu))


@pytest.mark.parametrize("headers", [{}, {"X-Api-Key": "wrong-key"}])
@run_async
async def test_token_request_without_the_right_api_key_is_401_with_an_errors_body(
    headers: dict[str, str],
) -> None:
    async with Emulator() as emu:
        body = json.dumps({"expireAt": int(time.time()) + 600}).encode()
        status, payload = await http(emu, "POST", TOKEN_PATH, headers=headers, body=body)
        assert status == 401
        error = json.loads(payload)["errors"][0]
        assert error["status"] == 401 and error["code"] == "unauthorized"
        assert "api key" in error["detail"]
        # Not a gRPC UNAUTHENTICATED code: that one means a refused egress token.
        classified = error_from_http(status, payload, phase=Phase.SESSION_TOKEN)
        assert classified.code is ErrorCode.SESSION_TOKEN_INVALID
        assert not classified.retryable


@pytest.mark.parametrize("offset", [-10, 0, 24 * 3600 + 5])
@run_async
async def test_expire_at_outside_the_next_24_hours_is_invalid_argument(offset: int) -> None:
    async with Emulator() as emu:
        body = json.dumps({"expireAt": int(time.time()) + offset}).encode()
        status, payload = await http(
            emu, "POST", TOKEN_PATH, headers={"X-Api-Key": emu.api_key}, body=body
        )
        assert status == 400
        (error,) = json.loads(payload)["errors"]
        assert set(error) == {"id", "status", "code", "title", "detail"}
        assert (error["status"], error["code"], error["title"]) == (
            400,
            "INVALID_ARGUMENT",
            "Invalid Argument",
        )
        if offset <= 0:
            assert error["detail"] == "expire_at must be in the future"


@run_async
async def test_expire_at_24_hours_ahead_is_accepted() -> None:
    now = 1_700_000_000.0
    async with Emulator(wall_clock=lambda: now) as emu:
        body = json.dumps({"expireAt": int(now) + 24 * 3600}).encode()
        status, _ = await http(
            emu, "POST", TOKEN_PATH, headers={"X-Api-Key": emu.api_key}, body=body
        )
        assert status == 200


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"expireAt": "soon"}'])
@run_async
async def test_malformed_token_request_body_is_invalid_argument(body: bytes) -> None:
    async with Emulator() as emu:
        status, payload = await http(
            emu, "POST", TOKEN_PATH, headers={"X-Api-Key": emu.api_key}, body=body
        )
        assert status == 400
        assert json.loads(payload)["errors"][0]["code"] == "INVALID_ARGUMENT"


@run_async
async def test_unknown_paths_and_wrong_methods_are_refused() -> None:
    async with Emulator() as emu:
        assert (await http(emu, "GET", "/nothing/here"))[0] == 404
        assert (await http(emu, "GET", TOKEN_PATH))[0] == 405
        assert (await http(emu, "POST", "/emulator/egress"))[0] == 405


@run_async
async def test_token_endpoint_fault_500_is_a_server_error_for_the_client() -> None:
    async with Emulator(fault=Fault.token_status(500)) as emu:
        status, payload = await http(
            emu, "POST", TOKEN_PATH, headers={"X-Api-Key": emu.api_key}, body=b"{}"
        )
        assert status == 500
        assert json.loads(payload)["errors"][0]["status"] == 500
        with pytest.raises(AvatarError) as caught:
            await fetch_token(config_for(emu))
        assert caught.value.code == "serverError"


@run_async
async def test_token_endpoint_fault_garbage_answers_200_with_a_non_json_body() -> None:
    async with Emulator(fault=Fault.token_garbage()) as emu:
        status, payload = await http(
            emu, "POST", TOKEN_PATH, headers={"X-Api-Key": emu.api_key}, body=b"{}"
        )
        assert status == 200
        with pytest.raises(ValueError):
            json.loads(payload)
        with pytest.raises(AvatarError):
            await fetch_token(config_for(emu))


@run_async
async def test_token_endpoint_fault_hang_never_answers() -> None:
    async with Emulator(fault=Fault.token_hang()) as emu:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(
                http(emu, "POST", TOKEN_PATH, headers={"X-Api-Key": emu.api_key}, body=b"{}"),
                0.3,
            )
        # Other routes still answer while a token request hangs.
        assert (await http(emu, "GET", "/emulator/egress"))[0] == 200


@run_async
async def test_egress_endpoint_starts_empty() -> None:
    async with Emulator() as emu:
        status, payload = await http(emu, "GET", "/emulator/egress")
        assert status == 200
        assert json.loads(payload) == {"agora": {}, "livekit": {}} == emu.egress()


PRIMARY_PATH = "/v1/auth/session-token"


@run_async
async def test_the_primary_route_answers_session_token_and_the_alias_both_spellings() -> None:
    async with Emulator() as emu:
        body = json.dumps({"expireAt": int(time.time()) + 600}).encode()
        headers = {"X-Api-Key": emu.api_key}
        status, payload = await http(emu, "POST", PRIMARY_PATH, headers=headers, body=body)
        assert status == 200
        assert set(json.loads(payload)) == {"session_token"}
        status, payload = await http(emu, "POST", TOKEN_PATH, headers=headers, body=body)
        assert status == 200
        both = json.loads(payload)
        assert set(both) == {"sessionToken", "session_token"}
        assert both["sessionToken"] == both["session_token"]
        # The primary route refuses like the alias does.
        status, payload = await http(emu, "POST", PRIMARY_PATH, headers={}, body=body)
        assert status == 401 and json.loads(payload)["errors"][0]["code"] == "unauthorized"
        assert (await http(emu, "GET", PRIMARY_PATH))[0] == 405


@pytest.mark.parametrize(
    ("status", "code", "detail"),
    [
        (401, "unauthorized", "invalid api key"),
        (402, "PAYMENT_REQUIRED", "session denied: credits exhausted"),
        (403, "PERMISSION_DENIED", "app id unrecognized"),
        (404, "NOT_FOUND", "avatar not found"),
        (429, "RESOURCE_EXHAUSTED", "concurrency limit reached"),
        (418, "INVALID_ARGUMENT", "invalid request"),
        (500, "INTERNAL", "internal error"),
        (503, "UNAVAILABLE", "upstream unavailable"),
        (599, "INTERNAL", "internal error"),
    ],
)
@run_async
async def test_token_status_faults_answer_the_console_shape_for_each_status(
    status: int, code: str, detail: str
) -> None:
    async with Emulator(fault=Fault.token_status(status)) as emu:
        for path in (PRIMARY_PATH, TOKEN_PATH):
            answer, payload = await http(
                emu, "POST", path, headers={"X-Api-Key": emu.api_key}, body=b"{}"
            )
            (error,) = json.loads(payload)["errors"]
            assert (answer, error["status"], error["code"], error["detail"]) == (
                status,
                status,
                code,
                detail,
            )
            assert error["title"]


@run_async
async def test_a_token_status_fault_keeps_the_detail_it_is_given() -> None:
    async with Emulator(fault=Fault.token_status(403, "app id unrecognized: app-9")) as emu:
        _, payload = await http(
            emu, "POST", PRIMARY_PATH, headers={"X-Api-Key": emu.api_key}, body=b"{}"
        )
        assert json.loads(payload)["errors"][0]["detail"] == "app id unrecognized: app-9"


@run_async
async def test_the_config_route_resolves_every_environment_to_the_emulator() -> None:
    async with Emulator(environments=("us-west", "staging")) as emu:
        status, payload = await http(emu, "GET", "/sdk")
        assert status == 200
        origin = f"http://127.0.0.1:{emu.port}"
        endpoint = {"api": origin, "driveningress": origin}
        assert json.loads(payload) == {"environments": {"us-west": endpoint, "staging": endpoint}}
        assert emu.api_url == origin and emu.config_url == origin + "/sdk"
        assert (await http(emu, "POST", "/sdk"))[0] == 405
