"""Webhook subscriptions of a site and the signed delivery of its outbound events
(``docs/webhooks.md``): the URL rules (no SSRF), the secrets (Secrets Manager, Standard
Webhooks signatures), the fan-out onto the delivery queue, the delivery with retries, the
per-endpoint circuit breaker and the delivery log."""
