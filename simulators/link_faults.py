"""A seeded plan of link faults for the simulated programmer, and the count of what it injected.

Faults act on the programmer's side of the wire: bytes flipped or dropped in either direction
(a noisy or marginal line; a dropped byte shortens a frame, which the receiver's CRC or
inter-byte timeout then rejects), responses dropped, delayed, duplicated or repeated late (with
a stale SEQ), a state-changing command that lands on the pump but whose response is lost, a
programmer restart right after a write (before it answers) that loses the retransmission cache
and the link, an unplug once ``unplug_after_frames`` frames have arrived or at the first
``unplug_at_command`` (halfway through the response, or before the request is executed), slow
pump telemetry.
Every decision is drawn from one ``random.Random(seed)``, so the same plan against the same
traffic injects the same faults; :class:`InjectedFaults` counts them so tests can check that the
driver's counters match.
"""

import random
from dataclasses import dataclass, field

__all__ = ["InjectedFaults", "LinkFaultPlan"]


@dataclass
class InjectedFaults:
    corrupted_in_frames: int = 0  # host -> programmer frames with a flipped byte
    corrupted_out_frames: int = 0  # programmer -> host frames with a flipped byte
    flipped_bytes: int = 0
    dropped_bytes: int = 0
    dropped_responses: int = 0
    delayed_responses: int = 0
    duplicated_responses: int = 0
    late_duplicates: int = 0
    lost_after_write: int = 0
    restarts: int = 0
    unplugs: int = 0


@dataclass
class LinkFaultPlan:
    """Probabilities per frame (``byte_error_rate`` per byte) and fixed delays, drawn from ``seed``."""

    seed: int = 0
    byte_error_rate: float = 0.0
    frame_error_rate: float = 0.0
    byte_drop_rate: float = 0.0
    drop_response_rate: float = 0.0
    delay_response_rate: float = 0.0
    delay_s: float = 1.5
    duplicate_response_rate: float = 0.0
    late_duplicate_rate: float = 0.0
    lose_after_write_rate: float = 0.0
    restart_rate: float = 0.0
    telemetry_delay_s: float = 0.0
    unplug_after_frames: int | None = None
    unplug_at_command: str | None = None  # or unplug when this command (e.g. "REFILL") arrives
    unplug_before_execute: bool = False  # the unplug loses the request itself, not its response
    injected: InjectedFaults = field(default_factory=InjectedFaults)

    def __post_init__(self) -> None:
        rates = (
            self.byte_error_rate,
            self.frame_error_rate,
            self.byte_drop_rate,
            self.drop_response_rate,
            self.delay_response_rate,
            self.duplicate_response_rate,
            self.late_duplicate_rate,
            self.lose_after_write_rate,
            self.restart_rate,
        )
        if any(not 0.0 <= r <= 1.0 for r in rates) or self.delay_s < 0 or self.telemetry_delay_s < 0:
            raise ValueError("fault rates lie within 0..1 and delays are not negative")
        self._rng = random.Random(self.seed)

    def chance(self, rate: float) -> bool:
        return rate > 0.0 and self._rng.random() < rate

    def corrupt(self, data: bytes) -> bytes:
        """``data`` with bytes flipped (XOR a nonzero mask) or dropped.

        Each byte flips with ``byte_error_rate`` and is lost with ``byte_drop_rate``; one byte of
        the whole chunk flips with ``frame_error_rate``.
        """
        if (self.byte_error_rate <= 0.0 and self.frame_error_rate <= 0.0 and self.byte_drop_rate <= 0.0) or not data:
            return data
        out = bytearray()
        for byte in data:
            if self.byte_drop_rate > 0.0 and self._rng.random() < self.byte_drop_rate:
                self.injected.dropped_bytes += 1
                continue
            if self.byte_error_rate > 0.0 and self._rng.random() < self.byte_error_rate:
                self.injected.flipped_bytes += 1
                byte ^= self._rng.randrange(1, 256)
            out.append(byte)
        if out and self.chance(self.frame_error_rate):
            self.injected.flipped_bytes += 1
            out[self._rng.randrange(len(out))] ^= self._rng.randrange(1, 256)
        return bytes(out)
