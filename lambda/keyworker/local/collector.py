"""The local stack's processes and CPython's cyclic garbage collector: one rule, here.

Each full collection walks every object the process holds. The DynamoDB emulator holds every
item of the table as many small long-lived objects (one per attribute value); the stack and
its API containers hold botocore's and moto's loaded service models. Every item a write
replaces adds survivors to the oldest generation, which makes the next full collection due
sooner. In a 2,000-key demo the collector took about a tenth of the stack's, the
containers' and the DynamoDB emulator's CPU (18.5 of ~190 CPU-seconds, timed with
``gc.callbacks``), on a machine where the demo is bound by CPU.

These processes make little cyclic garbage (what they drop, reference counting frees at
once), so once a process has started, :func:`settle_after_start` moves what it loaded out of
the collector's walk (``gc.freeze``) and lets the young generation fill further before each
collection. Cycles made afterwards are still collected (``tests/local/test_collector.py``).
Only the local stack's own processes do this; the Lambda handlers do not.
"""

from __future__ import annotations

import gc

#: Allocations (net of frees) between two collections of the youngest generation (CPython's
#: default is 700); each older generation is collected after this many of the one before it.
YOUNG_GENERATION = 20_000
OLDER_GENERATIONS = 50


def settle_after_start() -> None:
    """Collect once, freeze what survives (the modules and models loaded at start), and
    collect less often from now on."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION, OLDER_GENERATIONS, OLDER_GENERATIONS)
