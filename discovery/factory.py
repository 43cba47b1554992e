"""Discovery assembled from its settings: the static source (targets and files) and, when configured, the
on-chain registry."""

from __future__ import annotations

from discovery.config import DiscoverySettings
from discovery.service import Discovery, Source, StaticSource, TargetFileSource, static_targets_from_settings


def build_discovery(settings: DiscoverySettings, allow_loopback: bool = False, sources: list[Source] | None = None) -> Discovery:
    """`sources` replaces the configured ones (tests); `allow_loopback` comes from the scraper's settings, whose
    connections the refusals protect."""
    if sources is None:
        static = static_targets_from_settings(settings.targets)
        sources = [StaticSource(static), *(TargetFileSource(str(p)) for p in settings.target_files)]
        if settings.chain is not None:
            from discovery.chain import chain_source_from_settings  # web3: only when chain discovery is on

            sources.append(chain_source_from_settings(settings.chain))
    return Discovery(sources, allow_loopback=allow_loopback, resolve_names=settings.resolve_names)
