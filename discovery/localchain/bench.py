"""Walk time of on-chain discovery on the local chain: `python -m discovery.localchain.bench [-n 100]`.

Measures, in one run on this machine: the round trip of one JSON-RPC request (baseline), a walk of a small
pool (baseline) and of N orchestrators, without a rate cap (median of --repeat walks) and once with the
default cap of the settings (20 requests/s). Prints figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from discovery.chain import ChainReader
from discovery.localchain.chain import LocalChain, PoolEntry
from discovery.localchain.rpc import RpcServer
from discovery.rpc import FailoverRpc

DEFAULT_RATE = 20.0  # naap.settings.ChainSettings.max_requests_per_s


def _pool(n: int) -> list[PoolEntry]:
    return [PoolEntry("0x" + f"{0xB000 + i:040x}", (10_000 - i) * 10**18, True, f"https://o{i}.example:8935") for i in range(n)]


async def _walks(url: str, controller: str, repeat: int, rate: float, concurrency: int) -> tuple[float, int, int]:
    reader = ChainReader(FailoverRpc([url], max_requests_per_s=rate), controller, concurrency=concurrency)
    times = []
    try:
        for _ in range(repeat):
            walk = await reader.walk()
            times.append(walk.duration_s)
    finally:
        await reader.close()
    return statistics.median(times), walk.requests, len(walk.orchestrators)


async def _rtt(url: str, controller: str, n: int = 50) -> float:
    rpc = FailoverRpc([url], max_requests_per_s=0)
    try:
        await rpc.request("eth_blockNumber", lambda w3: w3.eth.block_number)
        t0 = time.perf_counter()
        for _ in range(n):
            await rpc.request("eth_blockNumber", lambda w3: w3.eth.block_number)
        return (time.perf_counter() - t0) / n
    finally:
        await rpc.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--orchestrators", type=int, default=100)
    ap.add_argument("--baseline", type=int, default=10, help="Pool size of the baseline walk.")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--skip-capped", action="store_true", help="Skip the walk under the default rate cap.")
    a = ap.parse_args()

    async def run() -> None:
        results = {}
        for n in (a.baseline, a.orchestrators):
            chain = LocalChain()
            chain.set_pool(_pool(n))
            with RpcServer(chain) as rpc:
                if n == a.baseline:
                    rtt = await _rtt(rpc.url, chain.controller.address)
                results[n] = await _walks(rpc.url, chain.controller.address, a.repeat, 0.0, a.concurrency)
                if n == a.orchestrators and not a.skip_capped:
                    results["capped"] = await _walks(rpc.url, chain.controller.address, 1, DEFAULT_RATE, a.concurrency)
        b_s, b_req, _ = results[a.baseline]
        n_s, n_req, n_found = results[a.orchestrators]
        print(f"one JSON-RPC round trip (eth_blockNumber, loopback): {rtt * 1000:.2f} ms")
        print(f"walk of {a.baseline:>4} orchestrators, no rate cap: {b_s:7.3f} s  ({b_req} requests, median of {a.repeat})")
        print(f"walk of {n_found:>4} orchestrators, no rate cap: {n_s:7.3f} s  ({n_req} requests, median of {a.repeat}, "
              f"concurrency {a.concurrency})")  # fmt: skip
        print(f"  ratio to the {a.baseline}-orchestrator walk: {n_s / b_s:.1f}x for {a.orchestrators / a.baseline:.0f}x the pool; "
              f"{n_s / n_req * 1000:.2f} ms per request = {n_s / n_req / rtt:.1f}x one round trip")  # fmt: skip
        if "capped" in results:
            c_s, c_req, _ = results["capped"]
            print(f"walk of {n_found:>4} orchestrators at the default cap of {DEFAULT_RATE:g} requests/s: {c_s:7.3f} s "
                  f"({c_s / n_s:.1f}x the uncapped walk; the cap alone needs {(c_req - 1) / DEFAULT_RATE:.2f} s)")  # fmt: skip

    asyncio.run(run())


if __name__ == "__main__":
    main()
