"""The public read API (Litestar): /v1/..., OpenAPI schema and docs page, health endpoints."""
