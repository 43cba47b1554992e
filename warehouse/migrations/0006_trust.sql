-- Data you can trust (design §9).
--
-- 1. When each row arrived: `ingested_at`, stamped by the server at insert (its column default). A published
--    score is computed from the rows that had arrived by its `as_of` time and replayed the same way, so data
--    arriving later (a sample back-dated into a published window, as Prometheus would store it) never changes a
--    published score. Rows written before this migration get the migration's time.
-- 2. Idempotent writes: every insert carries a deduplication token (warehouse/writer.py); these windows let the
--    server drop a retried block it had already committed.
-- 3. What a scrape row says about identity and about the samples it did not store.
ALTER TABLE samples ADD COLUMN IF NOT EXISTS ingested_at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(DoubleDelta, ZSTD(1));
ALTER TABLE samples MATERIALIZE COLUMN ingested_at SETTINGS mutations_sync = 1;
ALTER TABLE samples MODIFY SETTING non_replicated_deduplication_window = 10000;

ALTER TABLE scrapes ADD COLUMN IF NOT EXISTS ingested_at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(DoubleDelta, ZSTD(1));
ALTER TABLE scrapes MATERIALIZE COLUMN ingested_at SETTINGS mutations_sync = 1;
ALTER TABLE scrapes ADD COLUMN IF NOT EXISTS identity LowCardinality(String) DEFAULT '';
ALTER TABLE scrapes ADD COLUMN IF NOT EXISTS dropped Map(LowCardinality(String), UInt32);
ALTER TABLE scrapes MODIFY SETTING non_replicated_deduplication_window = 10000;

ALTER TABLE scraper_void ADD COLUMN IF NOT EXISTS ingested_at DateTime64(3, 'UTC') DEFAULT now64(3);
ALTER TABLE scraper_void MATERIALIZE COLUMN ingested_at SETTINGS mutations_sync = 1;
ALTER TABLE scraper_void MODIFY SETTING non_replicated_deduplication_window = 10000;

ALTER TABLE discovery_snapshots ADD COLUMN IF NOT EXISTS ingested_at DateTime64(3, 'UTC') DEFAULT now64(3);
ALTER TABLE discovery_snapshots MATERIALIZE COLUMN ingested_at SETTINGS mutations_sync = 1;
ALTER TABLE discovery_snapshots MODIFY SETTING non_replicated_deduplication_window = 10000;

-- `as_of`: the ingest cut-off the score was computed with (rows with ingested_at < as_of).
ALTER TABLE sla_scores ADD COLUMN IF NOT EXISTS as_of DateTime64(3, 'UTC') DEFAULT window_end;
ALTER TABLE sla_scores MATERIALIZE COLUMN as_of SETTINGS mutations_sync = 1;
ALTER TABLE sla_scores MODIFY SETTING non_replicated_deduplication_window = 10000;
