"""Who to scrape: static targets and files (Prometheus file_sd), on-chain discovery, and the safety check
every target URL passes before any connection."""
