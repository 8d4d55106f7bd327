"""CPU the client-side Opus encoder costs per second of audio, and what it saves on the wire.

Not part of the test suite. Needs the ``opus`` extra (PyAV)::

    .venv/bin/python benchmarks/opus_encoder.py [--seconds 60] [--rounds 5] [--json]

Encodes ``--seconds`` of speech-like PCM in 20 ms chunks (as a TTS streams it) into
one Ogg Opus stream per round, for a few input/session rate pairs, and reports the
median process CPU per second of audio, the real-time factor, and the bytes sent
against the PCM bytes.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import struct
import time

from avatarwire.bindings.opus import OggOpusStream
from avatarwire.core.config import OPUS_DEFAULT_BITRATE

CASES = ((16000, 16000), (24000, 24000), (22050, 24000), (48000, 48000))


def speech_like(seconds: float, rate: int) -> bytes:
    """A 140 Hz buzz with harmonics whose loudness swings three times a second."""
    samples = []
    for i in range(int(seconds * rate)):
        t = i / rate
        envelope = 0.55 + 0.45 * math.sin(2 * math.pi * 3 * t)
        value = sum(math.sin(2 * math.pi * 140 * k * t) / k for k in (1, 2, 3, 5))
        samples.append(int(7000 * envelope * value))
    return struct.pack(f"<{len(samples)}h", *samples)


def encode_once(pcm: bytes, input_rate: int, output_rate: int, bitrate: int) -> tuple[float, int]:
    """CPU seconds and bytes out for one stream of ``pcm``."""
    chunk = input_rate * 2 // 50
    started = time.process_time()
    stream = OggOpusStream(input_rate, output_rate, bitrate)
    sent = 0
    for offset in range(0, len(pcm), chunk):
        sent += len(stream.encode(pcm[offset : offset + chunk]))
    sent += len(stream.finish())
    return time.process_time() - started, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--bitrate", type=int, default=OPUS_DEFAULT_BITRATE)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for input_rate, output_rate in CASES:
        pcm = speech_like(args.seconds, input_rate)
        encode_once(pcm[: input_rate * 2], input_rate, output_rate, args.bitrate)  # warm-up
        runs = [encode_once(pcm, input_rate, output_rate, args.bitrate) for _ in range(args.rounds)]
        cpu = statistics.median(run[0] for run in runs)
        sent = runs[0][1]
        results.append(
            {
                "input_rate": input_rate,
                "session_rate": output_rate,
                "bitrate": args.bitrate,
                "audio_seconds": args.seconds,
                "cpu_ms_per_audio_second": round(cpu / args.seconds * 1000, 3),
                "realtime_factor": round(args.seconds / cpu, 1),
                "pcm_bytes": len(pcm),
                "sent_bytes": sent,
                "pcm_over_sent": round(len(pcm) / sent, 2),
            }
        )
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'PCM rate':>9} {'session':>8} {'CPU ms/s':>9} {'x realtime':>11} {'PCM/sent':>9}")
    for row in results:
        print(
            f"{row['input_rate']:>9} {row['session_rate']:>8} "
            f"{row['cpu_ms_per_audio_second']:>9} {row['realtime_factor']:>11} "
            f"{row['pcm_over_sent']:>9}"
        )


if __name__ == "__main__":
    main()
