"""Pure voice rules: no I/O, no clock."""
