"""Herald's domain: models, ports and services in plain Python (no AWS SDK here)."""
