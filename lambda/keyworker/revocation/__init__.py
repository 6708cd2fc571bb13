"""Bulk revocation runs: selectors (``selectors``), the core's plan (``planner``), run records
(``models``, ``store``), chunk execution (``executor``), the service (``service``), the jobs that
carry the work (``jobs``) and the ``keyworker revoke`` command (``cli``).
See ``docs/revocation-runs.md``.

Import the submodules you need: this package imports nothing itself, so the command line does
not load the service (and the native core) to parse its arguments.
"""
