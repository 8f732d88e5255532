"""modelreg: a self-hosted model registry and LLM gateway."""

__version__ = "0.1.0"
