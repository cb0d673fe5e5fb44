"""Hypothesis drives the real client against the simulated programmer under seeded link faults.

Invariants: a write is never executed twice on the pump (whatever was resent), a write reported
successful was executed exactly once, a write whose outcome was unknown is settled by
reconciliation to exactly what the pump did, and the driver's counters match the faults injected.
"""

from collections import Counter
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from drivers import DriverError, OutcomeUnknownError, ProgrammerError
from schemas.prescription import ContinuousPrescription
from simulators.link_faults import LinkFaultPlan
from tests.simulators.test_programmer import BACLOFEN, Bench

FAULTS: dict[str, dict[str, Any]] = {
    "drop": {"drop_response_rate": 0.3},
    "lost_after_write": {"lose_after_write_rate": 0.5},
    "inbound_corruption": {},  # set on the inbound side below
    "duplicate": {"duplicate_response_rate": 0.3},
    "delay": {"delay_response_rate": 0.3, "delay_s": 1.5},
    "restart": {"restart_rate": 0.3},
    "mixed": {"drop_response_rate": 0.1, "lose_after_write_rate": 0.2, "frame_error_rate": 0.05, "restart_rate": 0.1},
}


class ClientAgainstSimulator(RuleBasedStateMachine):
    @initialize(kind=st.sampled_from(sorted(FAULTS)), seed=st.integers(0, 2**16))
    def start(self, kind: str, seed: int) -> None:
        self.kind = kind
        self.bench = Bench(LinkFaultPlan(seed=seed, **FAULTS[kind]))
        self.bench.client.link()
        self.succeeded: list[str] = []
        self.count = 0
        if kind == "inbound_corruption":
            # Corrupt only what the host sends: every damaged request with a readable header is NAKed.
            original = self.bench.programmer.receive
            corrupting = LinkFaultPlan(seed=seed, frame_error_rate=0.3)

            def receive(data: bytes) -> None:
                original(corrupting.corrupt(data))

            self.bench.programmer.receive = receive  # type: ignore[method-assign]

    def _write(self, action: str) -> None:
        self.count += 1
        request_id = f"w-{self.count}"
        client = self.bench.client
        try:
            if action == "refill":
                reservoir = 19.0 + (self.count % 2)
                client.refill(
                    volume_removed_ml=0,
                    volume_added_ml=0,
                    drug=BACLOFEN,
                    reservoir_after_ml=reservoir,
                    request_id=request_id,
                )
            else:
                current = client.status().prescription
                assert current is not None
                rate = 0.3 + 0.01 * (self.count % 10)
                client.write_prescription(
                    ContinuousPrescription(rate_ml_per_day=rate), expect=current.rx_id or "", request_id=request_id
                )
            self.succeeded.append(request_id)
        except OutcomeUnknownError:
            self._settle(request_id)
        except ProgrammerError:
            pass  # a definitive refusal (e.g. NOT_LINKED after a restart): nothing was done
        except DriverError:
            self._relink()

    def _relink(self) -> None:
        for _ in range(5):
            try:
                self.bench.client.link()
                return
            except DriverError:
                continue

    def _settle(self, request_id: str) -> None:
        for _ in range(5):
            self._relink()
            try:
                verdict = self.bench.client.reconcile()
            except DriverError:
                continue
            assert verdict is not None
            assert verdict.pending.request_id == request_id
            assert verdict.landed == (request_id in self.executed_ids())
            return
        raise AssertionError("could not reconcile in 5 tries")

    def executed_ids(self) -> list[str | None]:
        return [rid for _, rid in self.bench.programmer.executed]

    @rule()
    def refill(self) -> None:
        self._write("refill")

    @rule()
    def reprogram(self) -> None:
        self._write("rx")

    @rule(hours=st.integers(1, 48))
    def time_passes(self, hours: int) -> None:
        self.bench.clock.advance(timedelta(hours=hours))

    @invariant()
    def never_executed_twice(self) -> None:
        counts = Counter(self.executed_ids())
        assert all(n == 1 for n in counts.values()), counts

    @invariant()
    def every_success_was_executed(self) -> None:
        executed = set(self.executed_ids())
        assert all(rid in executed for rid in self.succeeded)

    @invariant()
    def counters_match_the_faults_injected(self) -> None:
        counters = self.bench.client.counters
        injected = self.bench.programmer.faults.injected
        if self.kind == "drop":
            assert counters.timeouts == injected.dropped_responses
        elif self.kind == "lost_after_write":
            assert counters.timeouts == injected.lost_after_write
        elif self.kind == "inbound_corruption":
            assert counters.naks == self.bench.programmer.naks_sent
        elif self.kind == "duplicate":
            assert counters.stale_responses <= injected.duplicated_responses
            assert counters.timeouts == 0
        elif self.kind == "delay":
            assert counters.timeouts <= injected.delayed_responses  # only a late answer can time out here


ClientAgainstSimulator.TestCase.settings = settings(
    max_examples=40, stateful_step_count=15, deadline=None, suppress_health_check=list(HealthCheck)
)
test_client_against_simulator_with_faults = ClientAgainstSimulator.TestCase
