"""The warehouse: ClickHouse schema (numbered migrations), and the one client every part uses."""

from naap.warehouse.client import QueryResult, Warehouse, WarehouseError, open_warehouse

__all__ = ["QueryResult", "Warehouse", "WarehouseError", "open_warehouse"]
