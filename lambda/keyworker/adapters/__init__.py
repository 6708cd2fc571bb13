"""Adapters of the outside world: door commands (SQS), the mobile-access cloud (HTTPS), the
dedupe records of messages (DynamoDB), and observability helpers (logs, metrics)."""
