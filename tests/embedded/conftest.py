from tether.testing.pytest_plugin import workflow_env

__all__ = ["workflow_env"]
