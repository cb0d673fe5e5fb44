"""pump-service: the refill station and test-bench service for implanted drug pumps."""

__version__ = "0.1.0"
