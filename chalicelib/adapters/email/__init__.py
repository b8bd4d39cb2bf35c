"""Email provider adapters."""
