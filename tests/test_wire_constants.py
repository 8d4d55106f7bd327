"""The wire's names are spelled once, in ``core/wire_constants.py``: no other module of
the library, the emulator or the benchmarks writes them as string literals."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from avatarwire.core import codec
from avatarwire.core import wire_constants as wire
from avatarwire.core.audio_formats import AUDIO_FORMATS
from avatarwire.core.wire import avatarkit_pb2 as pb

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("core", "bindings", "emulator", "cli", "integrations", "benchmarks")

#: Values that would only mean the wire (short generic words like ``id`` are left out).
SPELLED_ONCE = {
    wire.TOKEN_ROUTE,
    wire.TOKEN_PATH,
    wire.TOKEN_ALIAS_PATH,
    wire.LEGACY_CONSOLE_SUFFIX,
    wire.INGRESS_PATH,
    wire.INGRESS_WEBSOCKET_PATH,
    wire.API_KEY_HEADER.lower(),
    wire.APP_ID_HEADER.lower(),
    wire.SESSION_KEY_HEADER.lower(),
    wire.APP_ID_QUERY.lower(),
    wire.SESSION_KEY_QUERY.lower(),
    wire.EXPIRE_AT_FIELD.lower(),
    wire.TOKEN_FIELDS[1].lower(),  # the newer spelling is also a parameter name here
    wire.CAPABILITY_PLAYBACK_CONTROL,
    wire.CAPABILITY_PLAYBACK_STATE,
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


def _sources() -> list[Path]:
    return [
        path
        for folder in SCANNED
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.name != "wire_constants.py" and "_pb2" not in path.name
    ]


def test_the_scan_sees_the_modules_that_use_the_constants() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in _sources()}
    assert {"core/handshake.py", "emulator/console.py", "benchmarks/sink_server.py"} <= names


@pytest.mark.parametrize("path", _sources(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_no_module_spells_a_wire_name_of_its_own(path: Path) -> None:
    spelled = [
        f"line {line}: {value!r}"
        for line, value in _literals(path)
        if value.lower() in SPELLED_ONCE or value.lower().rstrip("/") in SPELLED_ONCE
    ]
    assert not spelled, f"import these from avatarwire.core.wire_constants: {spelled}"


def test_enum_values_spelled_by_hand_agree_with_the_schema() -> None:
    assert (wire.EGRESS_TYPE_NONE, wire.EGRESS_TYPE_LIVEKIT, wire.EGRESS_TYPE_AGORA) == (
        pb.EGRESS_TYPE_UNSPECIFIED,
        pb.EGRESS_TYPE_LIVEKIT,
        pb.EGRESS_TYPE_AGORA,
    )
    assert wire.TRANSPORT_COMPRESSION_NONE == pb.TRANSPORT_COMPRESSION_NONE
    for spec in AUDIO_FORMATS.values():
        assert pb.AudioFormat.Value(f"AUDIO_FORMAT_{spec.format.name}") == spec.wire_value
    for name in dir(codec):
        if name.startswith("TYPE_"):
            assert getattr(codec, name) == pb.MessageType.Value("MESSAGE_" + name[5:]), name
