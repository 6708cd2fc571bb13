"""State adapters: the DynamoDB implementation of the domain's KeyStore port."""

from keyworker.store.dynamodb import DynamoStore, make_client

__all__ = ["DynamoStore", "make_client"]
