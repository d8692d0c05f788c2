"""The built-in statements: one module per statement, each defining ``STATEMENT``."""
