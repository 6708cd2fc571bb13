"""DynamoDB adapters: one client wrapper (errors, one retry policy, batches: ``client``), the
item codec and the key store (``key_store``: the domain's ``KeyStore`` port), and the
revocation-run store (``run_store``)."""

from keyworker.adapters.dynamodb.key_store import DynamoStore, make_client

__all__ = ["DynamoStore", "make_client"]
