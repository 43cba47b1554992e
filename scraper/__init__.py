"""Pulls every target's /metrics on schedule, bounded in time, bytes and samples, and stores the samples
and one row per scrape in the warehouse."""
