"""The whole stack on one machine: an embedded AWS emulator, the HTTP API, queue pollers and
the field simulators. Nothing here is imported by the Lambda handlers."""
