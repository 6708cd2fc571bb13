"""Type stubs of the native module ``keyworker._core`` (kept by hand, checked by stubtest)."""

__version__: str

# --- status engine (keyworker_core::status) ---

# --- credentials and door updates (keyworker_core::credential) ---
