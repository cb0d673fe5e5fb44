"""Deterministic simulated pumps, patients and programmer for tests and the test bench.

Runs in virtual time on an injected clock; imports ``schemas`` (and the ``drivers`` codec), never
``pump_service``.
"""
