"""NaaP SLA metrics, the shell: settings composed from the components' own models, the CLI, the collector
runtime that hosts the parts in one process, and the demo. Nothing below imports it."""

from exporter.common.meta import version

__version__ = version()
