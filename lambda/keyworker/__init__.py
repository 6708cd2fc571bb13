"""keyworker: deploys and revokes door keys for buildings.

The status rules and encodings live in the Rust core (``keyworker._core``); the modules of
this package are the typed Python facade over it, the domain services, the AWS adapters and
the Lambda handlers.
"""

__version__ = "0.1.0"
