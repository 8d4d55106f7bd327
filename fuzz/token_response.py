"""Fuzz the console token exchange's response parser.

Input layout: a mode byte, a chunk pattern byte (see
:func:`fuzz_input.split_by_pattern`), a flags byte (bit 0: EOF at the end; bit 1: a
300-byte response limit instead of 64 KiB; bits 2-4: the status for mode 3), then the
payload. Every ``@APIKEY@`` in the payload becomes the API key, so inputs can echo it
and the masking is checked. Modes (bits 0-1): 0 the payload is the whole response;
1 a 200 with the payload as a Content-Length body; 2 the same, chunked; 3 a status
from :data:`STATUSES` with the payload as body.

Run: ``python fuzz/token_response.py fuzz/seeds/token_response -max_total_time=300``.
"""

from __future__ import annotations

import sys

from fuzz_input import FuzzInput, split_by_pattern
from invariants import check

from avatarwire.core.endpoints import Endpoint
from avatarwire.core.errors import AvatarError
from avatarwire.core.token import TokenExchange, TokenExchangeState

API_KEY = "sk-FUZZ-apikey-Q7xw"
API_KEY_PLACEHOLDER = b"@APIKEY@"
ENDPOINT = Endpoint(secure=False, host="127.0.0.1", port=9000, target="/v1/console/session-tokens")
STATUSES = (200, 400, 401, 402, 404, 429, 500, 503)
SMALL_LIMIT = 300


def _response(mode: int, flags: int, body: bytes) -> bytes:
    mode &= 3
    if mode == 0:
        return body
    if mode == 2:
        chunks = b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + 16]), body[i : i + 16])
            for i in range(0, len(body), 16)
        )
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    status = 200 if mode == 1 else STATUSES[(flags >> 2) & 7]
    return b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body)


def _check_masked(error: AvatarError) -> None:
    texts = [str(error), repr(error), error.message, *map(str, error.args)]
    texts += [error.server_title or "", error.server_detail or ""]
    for text in texts:
        check(API_KEY not in text, f"the API key leaked into an error: {text!r}")
    check(API_KEY.encode() not in (error.raw_body or b""), "the API key leaked into raw_body")


def _check_outcome(exchange: TokenExchange) -> None:
    failed = exchange.state is TokenExchangeState.FAILED
    check(failed == (exchange.error is not None), "FAILED and an error disagree")
    if not exchange.done:
        check(exchange.error is None, "an error before the exchange is done")
        return
    error = exchange.error
    if exchange.state is TokenExchangeState.SUCCEEDED:
        check(error is None, "succeeded with an error")
        token = exchange.token
        check(isinstance(token, str) and bool(token), f"token is {token!r}")
        check(token == token.strip(" ") and all(" " <= c <= "~" for c in token), "unsafe token")
    else:
        check(isinstance(error, AvatarError), f"failed with {error!r}")
        assert error is not None
        _check_masked(error)
        try:
            _ = exchange.token
        except AvatarError as raised:
            check(raised is error, "token raised a different error")
        else:
            raise AssertionError("token did not raise after a failure")


def TestOneInput(data: bytes) -> None:
    """Run one input (see the module docstring for its layout)."""
    source = FuzzInput(data)
    mode, pattern, flags = source.byte(), source.byte(), source.byte()
    limit = SMALL_LIMIT if flags & 2 else 64 * 1024
    exchange = TokenExchange(ENDPOINT, API_KEY, 1_900_000_000, max_response_size=limit)
    check(exchange.data_to_send().startswith(b"POST "), "no request queued")
    body = source.rest().replace(API_KEY_PLACEHOLDER, API_KEY.encode())
    for piece in split_by_pattern(_response(mode, flags, body), pattern):
        was_done = exchange.done
        outcome = (exchange.state, exchange.error)
        exchange.receive_data(piece)
        if was_done:
            check((exchange.state, exchange.error) == outcome, "the outcome changed once done")
        _check_outcome(exchange)
    if flags & 1:
        exchange.receive_data(b"")
        check(exchange.done, "EOF left the exchange undecided")
        _check_outcome(exchange)
    check(exchange.data_to_send() == b"", "the request was queued twice")


def main() -> None:
    """Run under atheris with coverage of every module loaded so far."""
    import atheris  # type: ignore[import-untyped]

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
