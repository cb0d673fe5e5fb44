"""Use cases: each owns its business rules and writes in the caller's transaction."""
