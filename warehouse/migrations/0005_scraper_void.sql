-- Availability counts only what the targets are answerable for. When the scraper itself was at fault the
-- slot counts neither for nor against the target ("void"); docs/scraper.md states the rule.
-- `scrapes.void` marks single rows: a slot the scraper did not run (error_class 'missed'), or a failure of a
-- scrape that started late because the scraper's own loop was behind.
ALTER TABLE scrapes ADD COLUMN IF NOT EXISTS void UInt8 DEFAULT 0;

-- Windows in which every scrape row of one scraper is void: its process was paused (the event loop did not
-- run), every target of a round failed to be reached at once, or rows were dropped while the warehouse was
-- down. Matched to scrape rows by `scraper` and `scheduled_ts`.
CREATE TABLE IF NOT EXISTS scraper_void
(
    start_ts DateTime64(3, 'UTC'),
    end_ts   DateTime64(3, 'UTC'),
    scraper  LowCardinality(String),
    shard    LowCardinality(String),
    reason   LowCardinality(String),
    detail   String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(start_ts)
ORDER BY (scraper, start_ts);
