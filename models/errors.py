"""Exceptions raised by the model zoo."""

from __future__ import annotations


class ConfigError(ValueError):
    """A model configuration is invalid (bad value, unknown field, forbidden combination)."""


class WeightsError(ValueError):
    """A weights file is unreadable, tampered with, or does not match the requested model."""


class StreamingError(RuntimeError):
    """A streaming call was made with a bad chunk or state, or on a non-causal model."""
