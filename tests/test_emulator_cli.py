"""Starting the emulator outside asyncio: the thread wrapper and ``python -m``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request

from avatarwire.emulator import EmulatorThread

KEYS = {"console_url", "ingress_url", "api_key", "app_id", "avatar_id"}


def _post_token(console_url: str, api_key: str) -> int:
    request = urllib.request.Request(
        console_url + "/session-tokens",
        data=json.dumps({"expireAt": int(time.time()) + 60}).encode(),
        headers={"X-Api-Key": api_key, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.loads(response.read())["sessionToken"]
        return int(response.status)


def test_emulator_thread_serves_blocking_clients_and_stops() -> None:
    with EmulatorThread(avatar_id="thread-avatar") as emu:
        assert emu.avatar_id == "thread-avatar"
        assert emu.console_url == f"http://127.0.0.1:{emu.port}/v1/console"
        assert emu.ingress_url == f"ws://127.0.0.1:{emu.port}/v2/driveningress"
        assert _post_token(emu.console_url, emu.api_key) == 200
        with urllib.request.urlopen(emu.egress_url, timeout=5) as response:
            assert json.loads(response.read()) == emu.egress() == {"agora": {}, "livekit": {}}
        port = emu.port
    with EmulatorThread(port=port) as again:  # the port was released
        assert again.port == port


def test_python_m_prints_one_json_line_and_exits_cleanly_on_sigterm() -> None:
    command = [sys.executable, "-m", "avatarwire.emulator", "--port", "0", "--fast"]
    command += ["--api-key", "cli-key", "--avatar-id", "cli-avatar"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert set(info) == KEYS
        assert (info["api_key"], info["avatar_id"]) == ("cli-key", "cli-avatar")
        assert info["ingress_url"].startswith("ws://127.0.0.1:")
        assert _post_token(info["console_url"], "cli-key") == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
