"""DynamoDB adapters of the storage ports."""
