"""One client, one workload, in its own process: ``worker.py CLIENT WORKLOAD JSON``.

Prints one JSON object with the figures; the CPU and memory it reports are this
process's only, so clients never mix.
"""

from __future__ import annotations

import importlib
import json
import sys

from common import EmulatorInfo

DRIVERS = {
    "official": "official",
    "official-nodeflate": "official",
    "spatialreal": "official",
    "spatialreal-nodeflate": "official",
    "asyncio": "ours_asyncio",
    "uvloop": "ours_asyncio",
    "asyncio-paced": "ours_asyncio",
    "uvloop-paced": "ours_asyncio",
    "asyncio-paced-ahead": "ours_asyncio",
    "uvloop-paced-ahead": "ours_asyncio",
    "trio": "ours_trio",
    "trio-paced": "ours_trio",
    "blocking": "ours_blocking",
    "blocking-paced": "ours_blocking",
}


def main() -> None:
    client, workload, params_json = sys.argv[1], sys.argv[2], sys.argv[3]
    params = json.loads(params_json)
    infos = [EmulatorInfo(**info) for info in params.pop("emulators")]
    if workload == "core":
        import core_alone

        side = client if client.startswith(("official", "spatialreal")) else "ours"
        result = core_alone.run(side, params["seconds"], params.get("frame_hex", ""))
    else:
        driver = importlib.import_module(DRIVERS[client])
        params["client"] = client
        result = driver.run(workload, infos, **params)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
