"""The API's configuration: where it listens, who may embed it, its rate limit, caching and sign-in. The `api` section."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, model_validator

from exporter.common.configfile import Section


class ApiSettings(Section):
    host: str = Field("127.0.0.1", description="API listen address.")
    port: int = Field(8000, ge=0, le=65535, description="API port (0 picks a free one).")
    cors_origins: list[str] = Field(default_factory=lambda: ["*"], description="Origins allowed to embed the API (CORS).")
    rate_limit_per_minute: int = Field(600, ge=1, description="Public requests per client per minute.")
    forwarded_allow_ips: list[str] = Field(default_factory=list, description="Reverse proxies (IP addresses or "
                                           "networks, or \"*\") whose X-Forwarded-For / X-Forwarded-Proto headers the "
                                           "API trusts as the client's address (the rate limit's key). Empty (the "
                                           "default): forwarded headers are ignored and a client is its socket's peer.")  # fmt: skip
    query_timeout_s: float = Field(
        10.0, ge=1, le=300, description="Server-side time limit of one API query (read-only); past it the API answers 503."
    )
    # Caching (docs/api.md, "Caching"): closed windows are immutable, open ones get a short max-age.
    cache_max_mb: int = Field(64, ge=0, le=4096, description="Memory for the in-process cache of public answers (MiB); "
                              "0 turns it off (ETags and 304s stay).")  # fmt: skip
    cache_open_max_age_s: int = Field(10, ge=0, le=3600, description="max-age of an answer about an open window (and "
                                      "how long the server reuses it); 0 sends no-cache.")  # fmt: skip
    closed_after_s: int = Field(3900, ge=0, le=30 * 86400, description="A metric window is closed (its answer immutable) "
                                "this long after its end: late samples are accepted until then (scraper."
                                "timestamp_max_age_s, 1 h, plus a margin). Published scores are closed once published.")  # fmt: skip
    # Sign-In with Ethereum (docs/api-auth.md), mapped onto api.auth.AuthConfig.
    auth_domain: str | None = Field(None, description="The host[:port] a sign-in message must name; default "
                                    "<host>:<port> of this section.")  # fmt: skip
    auth_uri: str | None = Field(None, description="The URI put into sign-in messages (a message's URI must be on its "
                                 "origin); default http://<auth_domain>/v1/auth/login.")  # fmt: skip
    auth_chain_ids: list[int] = Field(default_factory=lambda: [42161], min_length=1,
                                      description="EIP-155 chain ids a sign-in message may name (Arbitrum One).")  # fmt: skip
    auth_statement: str | None = Field(None, description="Statement put into sign-in messages; default: the "
                                       "library's (\"Sign in to the NaaP SLA API ...\").")  # fmt: skip
    auth_nonce_ttl_s: int = Field(300, ge=1, description="Lifetime of a sign-in nonce.")
    auth_max_nonces: int = Field(10_000, ge=1, description="Nonces remembered at most (oldest evicted first).")
    auth_message_max_age_s: int = Field(600, ge=1, description="Oldest Issued At a sign-in message may carry.")
    auth_clock_skew_s: int = Field(60, ge=0, description="Tolerance on sign-in message times.")
    auth_token_ttl_s: int = Field(900, ge=1, description="Lifetime of an access token (JWT).")
    auth_token_leeway_s: int = Field(5, ge=0, description="Tolerance on token times.")
    auth_jwt_secret: SecretStr | None = Field(None, description="HS256 key of the tokens, at least 32 bytes; unset: 32 "
                                              "random bytes per process (tokens die with it).")  # fmt: skip

    def server_kwargs(self) -> dict[str, Any]:
        """uvicorn.Config keyword arguments for the proxy headers: off unless forwarded_allow_ips names a proxy
        (uvicorn's own default trusts X-Forwarded-For from 127.0.0.1, so any local process could pick its address)."""
        if not self.forwarded_allow_ips:
            return {"proxy_headers": False}
        return {"proxy_headers": True, "forwarded_allow_ips": list(self.forwarded_allow_ips)}

    def auth_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of api.auth.AuthConfig these settings give."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        domain = self.auth_domain or f"{host}:{self.port}"
        out: dict[str, Any] = {
            "domain": domain,
            "uri": self.auth_uri or f"http://{domain}/v1/auth/login",
            "chain_ids": tuple(self.auth_chain_ids),
            "nonce_ttl_s": self.auth_nonce_ttl_s,
            "max_nonces": self.auth_max_nonces,
            "message_max_age_s": self.auth_message_max_age_s,
            "clock_skew_s": self.auth_clock_skew_s,
            "token_ttl_s": self.auth_token_ttl_s,
            "token_leeway_s": self.auth_token_leeway_s,
            "jwt_secret": self.auth_jwt_secret.get_secret_value() if self.auth_jwt_secret else None,
        }
        if self.auth_statement is not None:
            out["statement"] = self.auth_statement
        return out

    @model_validator(mode="after")
    def _auth_is_usable(self) -> "ApiSettings":
        from api.auth import AuthConfig  # the library validates its own config; fail at start, naming the setting

        try:
            AuthConfig(**self.auth_kwargs())
        except ValueError as e:
            raise ValueError(f"sign-in settings (api.auth_*): {e}") from None
        return self
