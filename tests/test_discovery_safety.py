"""Target safety: every spelling of a forbidden address is refused before any connection.

Nothing here connects anywhere or asks a real DNS server: names are resolved by a stub resolver.
"""

from __future__ import annotations

import asyncio

import pytest

from discovery.safety import resolved_refusal, url_refusal
from discovery.service import Discovery, StaticSource
from discovery.target import make_target


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://127.0.0.1:9935/metrics", "loopback"),
        ("http://127.8.9.10/metrics", "loopback"),
        ("http://[::1]:9935/metrics", "loopback"),
        ("http://localhost:9935/", "loopback"),
        ("http://LOCALHOST./", "loopback"),
        ("http://ｌｏｃａｌｈｏｓｔ/", "loopback"),  # fullwidth letters: IDNA maps them to what resolvers see
        ("http://foo.localhost/", "loopback"),
        ("http://2130706433/", "loopback"),  # 127.0.0.1 as one number
        ("http://0x7f000001/", "loopback"),
        ("http://0177.0.0.1/", "loopback"),  # octal
        ("http://127.1/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped
        ("http://[64:ff9b::7f00:1]/", "loopback"),  # NAT64 of 127.0.0.1
        ("http://10.0.0.1/", "private"),
        ("http://172.16.5.4/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://[fd00::1]/", "private"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://[2002:c0a8:0101::1]/", "private"),  # 6to4 of 192.168.1.1
        ("http://[64:ff9b::a00:1]/", "private"),  # NAT64 of 10.0.0.1
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://100.100.100.200/", "metadata"),
        ("http://[64:ff9b::a9fe:a9fe]/", "metadata"),  # NAT64 of 169.254.169.254
        ("http://metadata.google.internal/", "metadata"),
        ("http://169.254.1.1/", "link_local"),
        ("http://[fe80::1]/", "link_local"),
        ("http://[fe80::1%25eth0]/", "link_local"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://100.64.0.1/", "not_global"),  # CGNAT
        ("http://192.0.2.10/", "not_global"),  # documentation
        ("http://198.18.0.1/", "not_global"),  # benchmarking
        ("http://240.0.0.1/", "not_global"),
        ("http://255.255.255.255/", "not_global"),
        ("http://0.1.2.3/", "not_global"),
        ("http://[2001:db8::1]/", "not_global"),
        ("ftp://8.8.8.8/", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("http://user:pw@8.8.8.8/", "credentials_in_url"),
        ("http://8.8.8.8:0/", "malformed_url"),
        ("http://8.8.8.8:99999/", "malformed_url"),
        ("http:///metrics", "no_host"),
        ("http://bad_host!/", "malformed_host"),
        ("http://-lead.example/", "malformed_host"),
    ],
)
def test_refused(url: str, reason: str) -> None:
    assert url_refusal(url) == reason


@pytest.mark.parametrize(
    "url",
    ["http://8.8.8.8:9935/metrics", "https://[2606:4700::1111]/metrics", "http://orch.example.com:9935/metrics",
     "http://xn--bcher-kva.example/", "http://bücher.example/"],
)  # fmt: skip
def test_allowed(url: str) -> None:
    assert url_refusal(url) is None


def test_loopback_only_when_allowed() -> None:
    for url in ("http://127.0.0.1/", "http://[::1]/", "http://localhost/", "http://[::ffff:127.0.0.1]/"):
        assert url_refusal(url, allow_loopback=True) is None, url
    # Allowed addresses in a legacy numeric spelling are still refused: one spelling per address.
    for host in ("2130706433", "0x7f000001", "127.1", "0177.0.0.1"):
        assert url_refusal(f"http://{host}:18999/ok", allow_loopback=True) == f"non_canonical_ip (write {host} as 127.0.0.1)"
    assert url_refusal("http://134744072/") == "non_canonical_ip (write 134744072 as 8.8.8.8)"  # public, still refused
    # Allowing loopback allows nothing else.
    for url in ("http://10.0.0.1/", "http://169.254.169.254/", "http://[fe80::1]/", "http://0.0.0.0/"):
        assert url_refusal(url, allow_loopback=True) is not None, url


class StubResolver:
    """name -> addresses, no network; counts look-ups."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host == "slow.example":
            await asyncio.sleep(10)
        if host not in self.table:
            raise OSError(f"no such name {host}")
        return self.table[host]


async def test_names_are_resolved_and_checked() -> None:
    r = StubResolver({"good.example": ["8.8.8.8"], "inside.example": ["8.8.4.4", "10.1.1.1"],
                      "meta.example": ["169.254.169.254"], "v6.example": ["::1"]})  # fmt: skip
    assert await resolved_refusal("http://good.example/", resolver=r) is None
    assert await resolved_refusal("http://inside.example/", resolver=r) == "private (inside.example resolves to 10.1.1.1)"
    assert await resolved_refusal("http://meta.example/", resolver=r) == "metadata (meta.example resolves to 169.254.169.254)"
    assert (await resolved_refusal("http://v6.example/", resolver=r) or "").startswith("loopback")
    assert await resolved_refusal("http://v6.example/", allow_loopback=True, resolver=r) is None
    # Not resolvable now (or too slow): not refused here; the scraper records its own failures.
    assert await resolved_refusal("http://gone.example/", resolver=r) is None
    assert await resolved_refusal("http://slow.example/", resolver=r, timeout_s=0.05) is None
    # Literals never reach the resolver.
    before = len(r.asked)
    assert await resolved_refusal("http://10.0.0.1/", resolver=r) == "private"
    assert await resolved_refusal("http://8.8.8.8/", resolver=r) is None
    assert len(r.asked) == before


async def test_discovery_records_refusals_with_reasons() -> None:
    resolver = StubResolver({"ok.example": ["8.8.8.8"], "rebind.example": ["192.168.0.7"]})
    targets = [
        make_target("http://ok.example:9935/metrics", "0x" + "01" * 20),
        make_target("http://rebind.example:9935/metrics", "0x" + "02" * 20),
        make_target("http://10.0.0.5:9935/metrics", "0x" + "03" * 20),
        make_target("http://127.0.0.1:9935/metrics", "0x" + "04" * 20),
    ]
    d = Discovery([StaticSource(targets, [])], resolver=resolver)
    snap = await d.walk()
    assert [t.orchestrator for t in snap.accepted] == ["0x" + "01" * 20]
    reasons = {r.target.orchestrator: r.reason for r in snap.refused}
    assert reasons == {
        "0x" + "02" * 20: "private (rebind.example resolves to 192.168.0.7)",
        "0x" + "03" * 20: "private",
        "0x" + "04" * 20: "loopback",
    }
    assert sorted(resolver.asked) == ["ok.example", "rebind.example"]
