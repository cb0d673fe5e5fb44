"""Charge capture for refill visits: rules engine, reference data, exports."""
