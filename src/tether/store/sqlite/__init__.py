"""The embedded SQLite backend (WAL, synchronous=FULL), shareable by several local processes."""
