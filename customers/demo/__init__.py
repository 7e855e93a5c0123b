"""A synthetic demo bank written in the bulk-import format (see docs/demo-bank.md)."""
