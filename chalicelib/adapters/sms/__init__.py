"""SMS provider adapters."""
