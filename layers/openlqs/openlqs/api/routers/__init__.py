"""One Router per resource family."""
