//! Key credentials (CWT in COSE_Sign1) and door-update payloads (COSE_Mac0).
