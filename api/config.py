"""The API's configuration: where it listens, who may embed it, and its rate limit. The `api` section."""

from __future__ import annotations

from pydantic import Field

from exporter.common.configfile import Section


class ApiSettings(Section):
    host: str = Field("127.0.0.1", description="API listen address.")
    port: int = Field(8000, ge=0, le=65535, description="API port (0 picks a free one).")
    cors_origins: list[str] = Field(default_factory=lambda: ["*"], description="Origins allowed to embed the API (CORS).")
    rate_limit_per_minute: int = Field(600, ge=1, description="Public requests per client per minute.")
    query_timeout_s: float = Field(
        10.0, ge=1, le=300, description="Server-side time limit of one API query (read-only); past it the API answers 503."
    )
