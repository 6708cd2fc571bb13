"""DynamoDB adapters: one client wrapper (errors, one retry policy, batches) under the key
store and the revocation-run store."""
