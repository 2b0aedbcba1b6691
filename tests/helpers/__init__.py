"""Helpers shared by test modules, by subject: a test module imports them
from here (or from tests/support.py, the stack itself), never from another
test module."""
