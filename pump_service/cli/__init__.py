"""Command line (typer): thin commands over the services; one-line errors, exit code 2 for bad input."""

from pump_service.cli.app import app, main

__all__ = ["app", "main"]
