"""Hostile-input tests (issue 8): crafted files that every loading path must refuse safely."""
