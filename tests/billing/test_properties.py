"""Properties over generated visits: units, waste arithmetic, exclusive code families, stable ids."""

from fractions import Fraction
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from pump_service.billing import ChargeStatus, VisitFacts, compute_charges, load_reference
from tests.billing.builders import DAY, visit

REFERENCE = load_reference(on=DAY)  # module level: hypothesis examples do not see function fixtures
# (drug, amount field suffix, billing unit in the canonical unit) for the drugs with a quantity unit.
UNIT_DRUGS = [
    ("floxuridine", "mg", Fraction(500)),
    ("baclofen", "mg", Fraction(10)),
    ("morphine", "mg", Fraction(10)),
    ("ziconotide", "mg", Fraction(1, 1000)),
    ("dexamethasone", "mg", Fraction(1)),
    ("heparin", "usp_u", Fraction(1000)),
]


def ceil(value: Fraction) -> int:
    return -(-value.numerator // value.denominator)


@given(
    drug=st.sampled_from(UNIT_DRUGS),
    administered_milli=st.integers(min_value=0, max_value=5_000_000),
    extra_milli=st.integers(min_value=0, max_value=5_000_000),
    profile=st.sampled_from(["medicare", "commercial_example", "tricare"]),
)
def test_admin_plus_waste_units_cover_the_opened_containers_exactly(
    drug: tuple[str, str, Fraction], administered_milli: int, extra_milli: int, profile: str
) -> None:
    drug_id, suffix, unit = drug
    administered = Fraction(administered_milli, 1000)
    opened = administered + Fraction(extra_milli, 1000)
    entry = {
        "drug_id": drug_id,
        f"administered_{suffix}": float(administered),
        f"opened_{suffix}": float(opened),
        "container": "single",
    }
    charges = compute_charges(visit(drugs=(entry,), payer_profile=profile), REFERENCE)
    code = REFERENCE.drugs[drug_id].code.code
    lines = [line for line in charges.lines if line.code == code]
    assert all(line.units > 0 for line in lines)
    billable = [line for line in lines if line.status is ChargeStatus.BILLABLE]
    if REFERENCE.profile(profile).jw_jz_modifiers and billable:
        assert sum(line.units for line in billable) == ceil(opened / unit)
        admin = [line for line in billable if "JW" not in line.modifiers]
        assert sum(line.units for line in admin) == ceil(administered / unit)
        assert all(not {"JW", "JZ"} <= set(line.modifiers) for line in lines)
    else:
        assert sum(line.units for line in lines) == ceil(administered / unit)


VISITS = st.fixed_dictionaries(
    {
        "visit_key": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,20}", fullmatch=True),
        "route": st.sampled_from(["intra_arterial", "intravenous", "intrathecal", "epidural", "intraventricular"]),
        "pump_family": st.sampled_from(["constant_flow", "programmable"]),
        "refilled": st.booleans(),
        "analysis_done": st.booleans(),
        "prescription_changed": st.booleans(),
        "performer_role": st.sampled_from(["clinical_staff", "physician_qhp"]),
        "place_of_service": st.sampled_from(["11", "19", "22", "49"]),
        "payer_profile": st.sampled_from(["medicare", "commercial_example", "tricare"]),
        "chemo_cycle_initiated_today": st.booleans(),
        "port_flush_only": st.booleans(),
        "imaging_guidance": st.sampled_from(["none", "fluoroscopy", "ultrasound"]),
        "same_day_codes": st.lists(st.sampled_from(["96522", "95990", "36260", "62368"]), max_size=2).map(tuple),
        "supplies": st.lists(st.just({"code": "A4220"}), max_size=2).map(tuple),
        "drugs": st.lists(
            st.sampled_from(
                [
                    {"drug_id": "floxuridine", "administered_mg": 252, "opened_mg": 500, "container": "single"},
                    {"drug_id": "heparin", "administered_usp_u": 10000, "container": "multi", "purpose": "patency"},
                    {"drug_id": "baclofen", "administered_mg": 40, "container": "multi", "compounded": True},
                    {"drug_id": "morphine", "administered_mg": 5, "container": "multi", "supplied_by": "pharmacy"},
                ]
            ),
            max_size=3,
            unique_by=lambda d: d["drug_id"],
        ).map(tuple),
    }
)


def make_visit(fields: dict[str, Any]) -> VisitFacts:
    try:
        return visit(**fields)
    except ValidationError:
        assume(False)
        raise


@given(VISITS)
def test_every_visit_gives_a_consistent_deterministic_set(fields: dict[str, Any]) -> None:
    facts = make_visit(fields)
    charges = compute_charges(facts, REFERENCE)
    assert compute_charges(facts, REFERENCE) == charges
    ids = [line.event_id for line in charges.lines]
    assert len(set(ids)) == len(ids)
    assert [line.line_number for line in charges.lines] == list(range(1, len(ids) + 1))
    billable = {line.code for line in charges.billable}
    assert not ({"62367", "62368", "62369", "62370"} & billable and {"95990", "95991"} & billable)
    assert not {"96425", "96522"} <= billable
    assert "96523" not in billable or billable == {"96523"}
    for line in charges.lines:
        assert line.units >= 0
        assert (line.status is ChargeStatus.BILLABLE) is (line.status_reason is None)
        assert line.status is ChargeStatus.BILLABLE or line.expected_allowable_usd == 0.0
        assert len(line.modifiers) == len(set(line.modifiers))
