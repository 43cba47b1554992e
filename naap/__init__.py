"""NaaP SLA metrics: the shared core (settings, warehouse, CLI) of the exporter/scraper/scoring/API system."""

__version__ = "0.1.0"
