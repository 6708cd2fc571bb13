"""Outbound events (docs/events.md): the table's stream is the outbox; the stream function
turns each state change into a CloudEvent, stores it in the site's feed, publishes it on the
EventBridge bus and hands it to the site's webhook subscriptions, whose signed delivery is
``keyworker.outbound.webhooks`` (docs/webhooks.md)."""
