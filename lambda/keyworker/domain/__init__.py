"""The domain layer: key lifecycle services over injected ports.

Build the services once per composition root with
:func:`keyworker.domain.services.build_services`; handlers call them and map their typed
errors. Nothing here reads the environment or creates AWS clients.

This package imports none of its modules: a module that needs only the domain's records
(``keyworker.domain.models``) does not load every service with it (cold start).
"""
