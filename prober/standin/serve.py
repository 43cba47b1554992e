"""Stand-in orchestrators in a process of their own (the demo fleet's and the benchmark's):

    python -m prober.standin.serve < spec.json

spec: {"standins": [{"name", "address", "host", "grpc_port", "http_port", "profile": {Profile fields} | "<name>",
"models": {"<model id>": <idle runners>}, "gpu": "<GPU name>"}, …]}. Prints one JSON line when every stand-in
listens — {"ready": [{"name", "address", "grpc_target", "service_uri"}, …]} — then serves until its stdin closes
(the parent went away) or SIGTERM/SIGINT. On a stop it prints {"stats": {name: {"starts", "info_calls",
"refusals"}}}. A spec it cannot use exits 2 with one line on stderr.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
from dataclasses import fields
from typing import Any

from prober.standin.orchestrator import GpuSpec, ModelSpec, StandIn
from prober.standin.profile import Profile, profile as named_profile

_PROFILE_FIELDS = {f.name for f in fields(Profile)}


def build(spec: dict[str, Any]) -> list[StandIn]:
    """The stand-ins of a spec (ValueError/KeyError/TypeError when it is malformed)."""
    out = []
    for s in spec["standins"]:
        prof = s.get("profile", "steady")
        if isinstance(prof, dict):
            unknown = set(prof) - _PROFILE_FIELDS
            if unknown:
                raise ValueError(f"unknown profile fields {sorted(unknown)}")
            prof = Profile(**prof)
        else:
            prof = named_profile(str(prof))
        models = {str(m): ModelSpec(capacity=int(c)) for m, c in (s.get("models") or {"streamdiffusion": 1}).items()}
        gpus = (GpuSpec(name=str(s["gpu"])),) if s.get("gpu") else (GpuSpec(),)
        out.append(StandIn(str(s["name"]), profile=prof, models=models, host=str(s.get("host", "127.0.0.1")),
                           address=s.get("address"), gpus=gpus, grpc_port=int(s.get("grpc_port", 0)),
                           http_port=int(s.get("http_port", 0))))  # fmt: skip
    return out


async def serve(standins: list[StandIn]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    started: list[StandIn] = []
    try:
        for o in standins:
            await o.start()
            started.append(o)
        print(json.dumps({"ready": [{"name": o.name, "address": o.address, "grpc_target": o.grpc_target,
                                     "service_uri": o.service_uri} for o in started]}), flush=True)  # fmt: skip

        def stdin_closed() -> None:  # the parent is gone: so are we
            sys.stdin.read()
            loop.call_soon_threadsafe(stop.set)

        # a daemon thread: a read blocked on stdin must never hold the process at exit
        threading.Thread(target=stdin_closed, name="stdin-watch", daemon=True).start()
        await stop.wait()
    finally:
        for o in started:
            await o.stop()
        stats = {o.name: {"starts": o.starts, "info_calls": o.info_calls, "refusals": o.refusals} for o in started}
        print(json.dumps({"stats": stats}), flush=True)


def main() -> None:
    try:
        standins = build(json.loads(sys.stdin.readline()))
    except (ValueError, KeyError, TypeError) as e:
        print(f"stand-in spec: {e}", file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(serve(standins))
    except OSError as e:
        print(f"stand-in: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
