//! The status model of `docs/status-rules.md` (codes, labels, transitions, derivations).
