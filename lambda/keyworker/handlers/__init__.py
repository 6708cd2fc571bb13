"""The four Lambda functions' entry points (``keyworker.handlers.<name>.handler``): api,
worker, events, expiry. Each is glue; their composition root is :mod:`.wiring`."""
