"""Pure contact rules: no I/O."""
