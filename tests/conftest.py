"""Test-wide settings live in the repository's conftest.py; the fixture notebooks are data, not tests."""

collect_ignore = ["fixtures"]   # tests/fixtures/solutions/*.ipynb are inputs of the release/grade tests
