"""Test-only helpers that are not tests themselves (the headless Chromium driver)."""
