"""Every error code and close code, walked through everything that reads the tables of
``core/errors.py``: a new row is exercised here without a new test."""

from __future__ import annotations

import pytest

from avatarwire.bindings._compat_errors import AvatarSDKError, AvatarSDKErrorCode
from avatarwire.core.errors import (
    CLOSE_CODE_CONTRACT,
    SERVER_CODE_RULES,
    AvatarError,
    ErrorCode,
    Phase,
    Retry,
    close_code_meaning,
    error_from_close,
    error_from_server_message,
    official_sdk_code,
)
from avatarwire.core.wire_constants import CloseCode


@pytest.mark.parametrize("code", list(ErrorCode), ids=str)
def test_every_code_has_its_facade_name_and_a_retry_verdict(code: ErrorCode) -> None:
    assert AvatarSDKErrorCode(code.value).value == code.value
    sdk_error = AvatarSDKError(code, "boom")
    assert sdk_error.code.value == code.value and isinstance(sdk_error.retryable, bool)
    assert isinstance(AvatarError("boom", code=code).retry, Retry)


def test_the_official_names_are_the_code_list_in_its_order_each_named_by_its_value() -> None:
    assert [(member.name, member.value) for member in AvatarSDKErrorCode] == [
        (code.value, code.value) for code in ErrorCode
    ]
    for code in ErrorCode:
        official = getattr(AvatarSDKErrorCode, code.value)
        assert official == code and hash(official) == hash(code)
        assert AvatarSDKErrorCode(code) is official


def test_the_official_names_are_the_official_sdks_name_for_name_in_its_order() -> None:
    spatialreal = pytest.importorskip("spatialreal", reason="the official SDK is not installed")
    theirs = [(member.name, member.value) for member in spatialreal.AvatarSDKErrorCode]
    assert [(member.name, member.value) for member in AvatarSDKErrorCode] == theirs


def test_the_older_official_sdks_codes_are_all_ours() -> None:
    avatarkit = pytest.importorskip("avatarkit", reason="the older official SDK is not installed")
    for member in avatarkit.AvatarSDKErrorCode:
        assert getattr(AvatarSDKErrorCode, member.name).value == member.value


def test_the_close_code_enum_and_the_contract_table_name_the_same_codes() -> None:
    assert set(CLOSE_CODE_CONTRACT) == {int(code) for code in CloseCode}


@pytest.mark.parametrize("close_code", sorted(CLOSE_CODE_CONTRACT))
def test_each_contract_row_names_closes_and_server_errors_alike(close_code: int) -> None:
    meaning, _ = CLOSE_CODE_CONTRACT[close_code]
    assert SERVER_CODE_RULES[close_code] is meaning
    assert close_code_meaning(close_code)[0] is meaning
    closed = error_from_close(close_code, "", phase=Phase.WEBSOCKET_RUNTIME)
    assert closed is not None and closed.code is meaning
    said = error_from_server_message(
        close_code, "", phase=Phase.WEBSOCKET_RUNTIME, connection_id="c", req_id=None
    )
    assert (said.code, said.close_code, official_sdk_code(said)) == (meaning, close_code, meaning)
