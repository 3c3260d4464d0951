"""Wire formats only: no I/O lives here."""
