"""Fixtures shared by the whole suite live in tests/fixtures/, one module per area."""

from hypothesis import HealthCheck, settings

pytest_plugins = [
    "tests.fixtures.services",  # first: the other fixture modules import it
    "tests.fixtures.db",
    "tests.fixtures.simulators",
    "tests.fixtures.server",
    "tests.fixtures.network",
    "tests.fixtures.raw_upstream",
    "tests.fixtures.outage",
]

# The CI machines are shared and noisy: judge properties by their outcome, never by speed.
settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile("ci")
