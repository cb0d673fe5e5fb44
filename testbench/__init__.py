"""The test bench: a simulated clinic run through the real service on a virtual clock, and scored.

It sits above both the service and the simulators (nothing imports it; ``pump-service bench``
loads it dynamically), because it drives the one with the other.
"""
