"""Fixtures shared by the whole suite live in tests/fixtures/, one module per area."""

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.simulators",
    "tests.fixtures.server",
]
