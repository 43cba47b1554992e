"""On-chain discovery against a real local EVM chain (py-evm) over loopback JSON-RPC.

The contracts are our stand-ins with Livepeer's function signatures; the reader is the one that reads
Arbitrum One. Every metrics URL here is a loopback or private literal: nothing is resolved or connected to.
"""

from __future__ import annotations

import dataclasses

import pytest
from chain_fixtures import addr, chain, entries, lpt, make_reader, make_source, rpc  # noqa: F401

from discovery.chain import InconsistentPool, WalkError
from discovery.localchain.chain import LocalChain, PoolEntry
from discovery.localchain.rpc import RpcServer
from discovery.metrics_url import Convention, Override
from discovery.service import Discovery, snapshot_rows


async def test_empty_pool(chain: LocalChain, rpc: RpcServer) -> None:
    reader = make_reader([rpc.url], chain.controller.address)
    try:
        walk = await reader.walk()
    finally:
        await reader.close()
    assert walk.orchestrators == []
    assert walk.block_number == chain.block_number
    assert walk.bonding_manager == chain.bonding_manager.address.lower()
    assert walk.service_registry == chain.service_registry.address.lower()


async def test_many_orchestrators_in_stake_order_with_conventional_urls(chain: LocalChain, rpc: RpcServer) -> None:
    pool = entries(40)
    pool[3] = dataclasses.replace(pool[3], active=False)
    chain.set_pool(reversed(pool))  # registration order does not matter: the pool is sorted by stake
    source = make_source([rpc.url], chain.controller.address, concurrency=8)
    try:
        result = await source.discover()
    finally:
        await source.close()
    walk = source.last_walk
    assert walk is not None and len(walk.orchestrators) == 40
    assert [o.address for o in walk.orchestrators] == [e.address for e in pool]
    assert [o.stake_wei for o in walk.orchestrators] == [lpt(1000 - i) for i in range(40)]
    assert walk.orchestrators[3].active is False and all(o.active for i, o in enumerate(walk.orchestrators) if i != 3)
    assert walk.requests == 3 + 1 + 4 * 40 + 1  # blockNumber, 2x getContract, size; first/next x40 + 3 details x40
    urls = {t.orchestrator: t.url for t in result.targets}
    assert len(urls) == 39
    assert urls[addr(0)] == "http://127.0.1.0:9935/metrics"
    assert [(r.target.orchestrator, r.reason) for r in result.refused] == [(addr(3), "inactive")]
    t0 = result.targets[0]
    assert result.facts[t0] == {"service_uri": "https://127.0.1.0:8935", "stake": 1000.0, "active": True}
    assert result.block_number == walk.block_number


@pytest.mark.parametrize(
    "uri, reason",
    [
        (None, "no_service_uri"),
        (b"\xff\xfe\x00garbage", "malformed_service_uri"),  # not UTF-8: web3 would fail to decode a `string`
        ("orch.example:8935", "malformed_service_uri"),  # no scheme
        ("ftp://orch.example/", "malformed_service_uri"),
        ("https://orch example:8935", "malformed_service_uri"),
        ("https://user:pw@orch.example:8935", "malformed_service_uri"),
        ("https://orch.example:99999", "malformed_service_uri"),
        ("https://" + "a" * 3000 + ".example", "service_uri_too_long"),
    ],
)
async def test_bad_service_uri_is_refused_with_its_reason_and_others_survive(
    chain: LocalChain, rpc: RpcServer, uri: str | bytes | None, reason: str
) -> None:
    chain.set_pool([*entries(2), PoolEntry(addr(50), lpt(500), True, uri)])
    d = Discovery([make_source([rpc.url], chain.controller.address)], allow_loopback=True)
    try:
        snap = await d.walk()
    finally:
        await d.close()
    assert {t.orchestrator for t in snap.accepted} == {addr(0), addr(1)}
    assert [(r.target.orchestrator, r.reason) for r in snap.refused] == [(addr(50), reason)]
    assert snap.failed == {}


async def test_refused_addresses_are_recorded_never_connected(chain: LocalChain, rpc: RpcServer, warehouse) -> None:
    chain.set_pool(
        [
            *entries(1),
            PoolEntry(addr(60), lpt(60), True, "https://10.1.2.3:8935"),
            PoolEntry(addr(61), lpt(61), True, "https://169.254.169.254"),
            PoolEntry(addr(62), lpt(62), True, "https://[::ffff:192.168.1.1]:8935"),
            PoolEntry(addr(63), lpt(63), True, "https://metadata.google.internal"),
            PoolEntry(addr(64), lpt(64), True, "https://0x7f.1:8935"),  # 127.0.0.1 in inet_aton's spelling
        ]
    )
    # Loopback not allowed here: the first orchestrator (127.0.1.0) is refused too.
    d = Discovery([make_source([rpc.url], chain.controller.address)], allow_loopback=False)
    try:
        snap = await d.walk()
    finally:
        await d.close()
    assert snap.accepted == []
    reasons = {r.target.orchestrator: r.reason for r in snap.refused}
    assert reasons == {
        addr(0): "loopback", addr(60): "private", addr(61): "metadata", addr(62): "private",
        addr(63): "metadata", addr(64): "loopback",
    }  # fmt: skip
    # Stored with their facts, so a refusal can be looked up later.
    from discovery.service import SNAPSHOT_COLUMNS

    warehouse.insert_rows("discovery_snapshots", SNAPSHOT_COLUMNS, snapshot_rows(snap))
    rows = warehouse.query(
        "SELECT orchestrator, status, reason, service_uri, stake, block_number FROM discovery_snapshots ORDER BY orchestrator"
    ).rows
    assert len(rows) == 6 and all(r[1] == "refused" for r in rows)
    by = {r[0]: r for r in rows}
    assert by[addr(60)][2:] == ("private", "https://10.1.2.3:8935", 60.0, snap.results["chain"].block_number)


async def test_overrides_and_convention(chain: LocalChain, rpc: RpcServer) -> None:
    chain.set_pool([*entries(3), PoolEntry(addr(9), lpt(9), True, None)])
    overrides = {
        addr(0): Override(url="https://127.0.0.9:443/custom/metrics"),
        addr(1): Override(port=7000),
        addr(9): Override(url="http://127.0.0.10:9935"),  # an override gives a target even without a service URI
    }
    source = make_source([rpc.url], chain.controller.address, overrides, Convention("http", 9100, "/m"))
    try:
        result = await source.discover()
    finally:
        await source.close()
    urls = {t.orchestrator: t.url for t in result.targets}
    assert urls == {
        addr(0): "https://127.0.0.9:443/custom/metrics",
        addr(1): "http://127.0.1.1:7000/m",
        addr(2): "http://127.0.1.2:9100/m",
        addr(9): "http://127.0.0.10:9935/metrics",
    }


async def test_inactive_orchestrators_can_be_included(chain: LocalChain, rpc: RpcServer) -> None:
    chain.set_pool(entries(3, active=False))
    source = make_source([rpc.url], chain.controller.address, active_only=False)
    try:
        result = await source.discover()
    finally:
        await source.close()
    assert len(result.targets) == 3 and result.refused == []


async def test_pool_changing_between_walks(chain: LocalChain, rpc: RpcServer) -> None:
    chain.set_pool(entries(5))
    d = Discovery([make_source([rpc.url], chain.controller.address)], allow_loopback=True)
    try:
        first = await d.walk()
        chain.remove(addr(2))
        chain.set_pool([PoolEntry(addr(7), lpt(2000), True, "https://127.0.2.7:8935"), PoolEntry(addr(0), lpt(1), True)])
        second = await d.walk()
    finally:
        await d.close()
    assert [t.orchestrator for t in first.accepted] == [addr(i) for i in range(5)]
    # addr(7) now leads on stake, addr(0) fell to last, addr(2) left the pool.
    assert [t.orchestrator for t in second.accepted] == [addr(7), addr(1), addr(3), addr(4), addr(0)]
    assert second.results["chain"].block_number > first.results["chain"].block_number


async def test_a_walk_reads_one_block_even_when_the_pool_changes_mid_walk(chain: LocalChain, rpc: RpcServer) -> None:
    chain.set_pool(entries(6))
    before = chain.block_number
    changed = []

    def change_pool(n: int, method: str) -> None:
        if n == 8 and not changed:  # a few calls into the walk
            changed.append(chain.remove(addr(0)))
            changed.append(chain.set_pool([PoolEntry(addr(20), lpt(5000), True, "https://127.0.2.20:8935")]))

    rpc.on_request = change_pool
    source = make_source([rpc.url], chain.controller.address)
    try:
        result = await source.discover()
        rpc.on_request = None
        after = await source.discover()
    finally:
        await source.close()
    assert changed and min(changed) > before
    assert result.block_number == before
    assert [t.orchestrator for t in result.targets] == [addr(i) for i in range(6)]
    assert [t.orchestrator for t in after.targets] == [addr(20)] + [addr(i) for i in range(1, 6)]


async def test_rpc_failing_mid_walk_keeps_the_last_good_snapshot(chain: LocalChain, rpc: RpcServer, warehouse) -> None:
    chain.set_pool(entries(4))
    d = Discovery([make_source([rpc.url], chain.controller.address)], allow_loopback=True)
    try:
        good = await d.walk()
        chain.set_pool(entries(6))  # the chain moves on, but the endpoint dies in the middle of the next walk
        rpc.fail("http_503", after=6)
        bad = await d.walk()
        rpc.heal()
        healed = await d.walk()
    finally:
        await d.close()
    assert len(good.accepted) == 4 and good.failed == {}
    assert bad.accepted == good.accepted  # last good snapshot stays in use
    assert "chain" in bad.failed and "every RPC endpoint failed" in bad.failed["chain"]
    assert "503" in bad.failed["chain"]
    assert d.failures == 1 and d.source_failures == {"chain": 1}
    assert len(healed.accepted) == 6 and healed.failed == {}
    from discovery.service import SNAPSHOT_COLUMNS

    warehouse.insert_rows("discovery_snapshots", SNAPSHOT_COLUMNS, snapshot_rows(bad))
    rows = warehouse.query("SELECT status, count(), any(block_number) FROM discovery_snapshots GROUP BY status ORDER BY status").rows
    assert rows == [("accepted", 4, good.results["chain"].block_number), ("error", 1, good.results["chain"].block_number)]


@pytest.mark.parametrize("mode", ["drop", "http_503", "rpc_error", "slow"])
async def test_failover_to_a_second_rpc_url(chain: LocalChain, rpc: RpcServer, mode: str) -> None:
    chain.set_pool(entries(8))
    with RpcServer(chain) as second:
        rpc.fail(mode, after=10)  # "slow": answers held until heal(), so only the time limit can end them
        # A time limit far above a loaded machine's answer time: only the held answers may reach it.
        reader = make_reader([rpc.url, second.url], chain.controller.address, timeout_s=3.0)
        try:
            walk = await reader.walk()
        finally:
            await reader.close()
            rpc.heal()
        assert [o.address for o in walk.orchestrators] == [addr(i) for i in range(8)]
        # Requests in flight at the failure all fail (4 detail readers + the walk itself), but the reader moves
        # over once, and stays on the endpoint that works.
        assert reader.rpc.stats.failovers == 1 and 1 <= reader.rpc.stats.errors <= 5
        assert second.requests > 0
        assert walk.rpc_url == second.url


async def test_every_endpoint_down_fails_the_walk_after_retries(chain: LocalChain, rpc: RpcServer) -> None:
    chain.set_pool(entries(2))
    with RpcServer(chain) as second:
        rpc.fail("http_503")
        second.fail("drop")
        reader = make_reader([rpc.url, second.url], chain.controller.address, retries=2)
        try:
            with pytest.raises(WalkError, match="every RPC endpoint failed"):
                await reader.walk()
        finally:
            await reader.close()
    assert reader.rpc.stats.requests == 6  # 2 endpoints x (1 + 2 retries)


async def test_inconsistent_pools_fail_the_walk(chain: LocalChain, rpc: RpcServer) -> None:
    chain.set_pool(entries(4))
    d = Discovery([make_source([rpc.url], chain.controller.address)], allow_loopback=True)
    try:
        good = await d.walk()
        chain.set_next_unchecked(addr(2), addr(1))  # a cycle
        cyclic = await d.walk()
        chain.set_next_unchecked(addr(2), "0x" + "00" * 20)  # now the list ends early: 3 of 4 members
        short = await d.walk()
    finally:
        await d.close()
    assert "links back" in cyclic.failed["chain"]
    assert "pool size is 4" in short.failed["chain"]
    assert cyclic.accepted == short.accepted == good.accepted


async def test_block_going_backwards_is_inconsistent(chain: LocalChain, rpc: RpcServer) -> None:
    chain.set_pool(entries(1))
    source = make_source([rpc.url], chain.controller.address)
    try:
        await source.discover()
        assert source.last_walk is not None
        source.last_walk = dataclasses.replace(source.last_walk, block_number=source.last_walk.block_number + 100)
        with pytest.raises(InconsistentPool, match="older than the last walk"):
            await source.discover()
    finally:
        await source.close()


async def test_missing_registry_and_wrong_controller(rpc: RpcServer) -> None:
    bare = LocalChain(register=("BondingManager",))
    with RpcServer(bare) as server:
        reader = make_reader([server.url], bare.controller.address)
        try:
            with pytest.raises(WalkError, match="no ServiceRegistry"):
                await reader.walk()
        finally:
            await reader.close()
        # An address without a contract answers empty data: the chain's answer, so no retries.
        reader = make_reader([server.url], "0x" + "12" * 20, retries=3)
        try:
            with pytest.raises(WalkError, match="BadFunctionCallOutput"):
                await reader.walk()
        finally:
            await reader.close()
        assert reader.rpc.stats.requests == 2 and reader.rpc.stats.errors == 0


async def test_request_rate_is_bounded(chain: LocalChain, rpc: RpcServer) -> None:
    import time

    chain.set_pool(entries(3))
    reader = make_reader([rpc.url], chain.controller.address, max_requests_per_s=40.0)
    stamps: list[float] = []
    rpc.on_request = lambda n, m: stamps.append(time.monotonic())
    try:
        walk = await reader.walk()
    finally:
        await reader.close()
    assert len(stamps) == walk.requests == 17
    # Evenly spaced by the limiter: never faster than 40/s over the walk (a lower bound; slow machines pass).
    assert stamps[-1] - stamps[0] >= (len(stamps) - 1) / 40.0 * 0.9


async def test_abandoned_walks_leave_the_reader_usable(chain: LocalChain, rpc: RpcServer) -> None:
    """A walk given up mid-flight (inconsistent pool, time limit) cancels requests in flight; the next walk
    must still work. (web3's own HTTP provider can deadlock here: see discovery.rpc.SessionProvider.)"""
    chain.set_pool(entries(6))
    # The time limit is far above a loaded machine's answer time: only the answer held below may reach it.
    source = make_source([rpc.url], chain.controller.address, concurrency=6, timeout_s=3.0, retries=0)
    try:
        for _ in range(8):
            chain.set_next_unchecked(addr(4), addr(1))  # a cycle: the walk stops with detail reads in flight
            with pytest.raises(InconsistentPool):
                await source.discover()
            chain.set_next_unchecked(addr(4), addr(5))
            assert len((await source.discover()).targets) == 6
        rpc.fail("slow", count=1)  # one answer held past the time limit: the request is cancelled
        with pytest.raises(WalkError, match="TimeoutError"):
            await source.discover()
        assert len((await source.discover()).targets) == 6
    finally:
        await source.close()


async def test_nobody_is_silently_lost_when_orchestrators_share_a_host(chain: LocalChain, rpc: RpcServer) -> None:
    """One operator registers several orchestrators on one host (different service ports), another spells a
    shared host differently (case, trailing dot): their conventional metrics URLs collide. Every orchestrator of
    the pool is still, at every walk, a target or a refusal with a reason — and an override resolves it."""
    pool = [
        PoolEntry(addr(0), lpt(100), True, "https://127.0.2.1:8935"),
        PoolEntry(addr(1), lpt(90), True, "https://127.0.2.1:8936"),  # same host, another service port
        PoolEntry(addr(2), lpt(80), True, "https://LocalHost.:8935"),  # spelled differently ...
        PoolEntry(addr(3), lpt(70), True, "https://localhost:9000"),  # ... the same host
        PoolEntry(addr(4), lpt(60), True, "https://127.0.2.9:8935"),  # on its own
        PoolEntry(addr(5), lpt(50), True, None),  # no service URI
    ]
    chain.set_pool(pool)

    async def walk(overrides: dict[str, Override] | None = None):  # noqa: ANN202
        d = Discovery([make_source([rpc.url], chain.controller.address, overrides)], allow_loopback=True)
        try:
            return await d.walk()
        finally:
            await d.close()

    snap = await walk()
    status = {t.orchestrator: "target" for t in snap.accepted}
    for r in snap.refused:
        assert r.target.orchestrator not in status, "an orchestrator is both a target and refused"
        status[r.target.orchestrator] = r.reason
    assert set(status) == {e.address.lower() for e in pool}  # everyone, exactly once
    assert status[addr(4)] == "target"
    assert status[addr(5)] == "no_service_uri"
    assert status[addr(0)] == f"duplicate_metrics_url (also {addr(1)})"
    assert status[addr(1)] == f"duplicate_metrics_url (also {addr(0)})"
    assert status[addr(2)] == f"duplicate_metrics_url (also {addr(3)})"  # LocalHost. and localhost are one host
    assert len(snap.accepted) == 1

    resolved = await walk({addr(1): Override(port=9936), addr(3): Override(port=9937)})
    assert sorted(t.orchestrator for t in resolved.accepted) == sorted([addr(0), addr(1), addr(2), addr(3), addr(4)])
    assert [r.reason for r in resolved.refused] == ["no_service_uri"]
