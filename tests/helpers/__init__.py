"""Test helpers: plain modules that tests import (never from a conftest.py)."""
