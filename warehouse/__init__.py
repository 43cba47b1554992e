"""The warehouse: the ClickHouse schema as numbered, frozen migrations (`warehouse.migrations`, with
`open_warehouse`), the one client every part uses, embedded chDB or a ClickHouse server with the same code
(`warehouse.client`), and its configuration (`warehouse.config`, which imports no ClickHouse client, so the
shell's settings load on an exporter-only install)."""
