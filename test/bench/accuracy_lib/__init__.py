"""test/bench/accuracy_lib: the parts of test/bench/accuracy that need no database (metrics, CSV staging)."""
