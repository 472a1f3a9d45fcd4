"""tether: a pure-Python engine for Dapr Workflow."""

__version__ = "0.1.0"
