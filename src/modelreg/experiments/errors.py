"""The experiments' errors, in the app's error tree (modelreg.errors)."""

from __future__ import annotations

from modelreg.errors import UnknownModelError, ValidationFailedError

__all__ = ["ExperimentNotFoundError", "ExperimentNotRunningError"]


class ExperimentNotFoundError(UnknownModelError):
    """No such experiment, or not the caller's (404 either way: existence stays hidden)."""


class ExperimentNotRunningError(ValidationFailedError):
    """The name is an experiment's, but it routes no request now (draft, paused, stopped)."""
