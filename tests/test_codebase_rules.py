"""Rules of the code base that no linter checks: one unit registry, one wall-clock reader, no print, no assert."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("schemas", "drivers", "simulators", "pump_service")


def _sources(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def _offenders(pattern: str, allowed: set[str], packages: tuple[str, ...] = PACKAGES) -> list[str]:
    regex = re.compile(pattern)
    found = []
    for path in _sources(*packages):
        relative = path.relative_to(ROOT).as_posix()
        if relative in allowed:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if regex.search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
    return found


def test_there_is_one_unit_registry() -> None:
    assert _offenders(r"UnitRegistry\(", {"schemas/units.py"}) == []


@pytest.mark.parametrize(
    "pattern",
    [r"datetime\.now\(", r"\.utcnow\(", r"\btime\.time\(", r"date\.today\(", r"time\.monotonic\(", r"time\.sleep\("],
)
def test_only_the_system_clock_reads_the_wall_clock(pattern: str) -> None:
    # Simulators, the scheduler and the tests run in virtual time: a stray wall-clock read breaks that.
    assert _offenders(pattern, {"schemas/clock.py"}, (*PACKAGES, "tests")) == []


def test_schemas_import_no_other_layer() -> None:
    assert _offenders(r"^\s*(from|import) (drivers|simulators|pump_service)\b", set(), ("schemas",)) == []


def test_product_code_has_no_assert_statement() -> None:
    # ``python -O`` strips asserts: product code raises its own errors instead (see pump_service/errors.py).
    found = [
        f"{path.relative_to(ROOT).as_posix()}:{node.lineno}"
        for path in _sources(*PACKAGES)
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.Assert)
    ]
    assert found == []
