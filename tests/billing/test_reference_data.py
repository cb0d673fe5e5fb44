"""The loader refuses bad reference data with an error naming the file and the entry."""

from datetime import date
from pathlib import Path

import pytest

from pump_service.billing import BillingDataError, compute_charges, load_reference
from schemas.drug import AmountBasis, Drug
from schemas.drug_catalogue import DRUGS
from schemas.pump import DeliveryRoute
from tests.billing.builders import DAY, edit_data_file, visit


def load_error(data_dir: Path, **kwargs: object) -> BillingDataError:
    with pytest.raises(BillingDataError) as caught:
        load_reference(data_dir, on=DAY, **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_packaged_data_loads_and_covers_the_year() -> None:
    reference = load_reference(on=DAY)
    assert reference.version == "2026.1"
    assert reference.covers(date(2026, 1, 1))
    assert reference.covers(date(2026, 12, 31))
    assert set(reference.profiles) == {"medicare", "commercial_example", "tricare"}
    assert set(reference.drugs) == set(DRUGS)
    assert reference.drugs["ziconotide"].code.billing_unit_label == "1 mcg"


def test_unknown_code_in_a_table(data_dir: Path) -> None:
    with (data_dir / "ptp.csv").open("a") as handle:
        handle.write("96522,99999,0,2026-01-01,,U,typo\n")
    error = load_error(data_dir)
    assert (error.file, error.entry) == ("ptp.csv", "99999")
    assert "unknown code 99999" in str(error)


def test_unknown_code_in_a_profile(data_dir: Path) -> None:
    edit_data_file(data_dir / "profiles.toml", 'compounded_drug_code = "J7999"', 'compounded_drug_code = "J7777"')
    error = load_error(data_dir)
    assert (error.file, error.entry) == ("profiles.toml", "medicare")
    assert "J7777" in str(error)


def test_a_code_the_rule_table_needs_must_exist(data_dir: Path) -> None:
    edit_data_file(data_dir / "codes.toml", "[codes.95991]", "[codes.95992]")
    error = load_error(data_dir)
    assert (error.file, error.entry) == ("codes.toml", "95991")


def test_catalogue_drug_without_a_billing_unit(data_dir: Path) -> None:
    edit_data_file(data_dir / "codes.toml", 'billing_unit = "500 mg"  # code-drug link [V]; unit [U]\n', "")
    error = load_error(data_dir)
    assert (error.file, error.entry) == ("codes.toml", "J9200")
    assert "needs a billing_unit" in str(error)


def test_catalogue_drug_without_a_code() -> None:
    uncoded = Drug(
        drug_id="mystery",
        name="Mystery",
        amount_basis=AmountBasis.MASS,
        routes=(DeliveryRoute.INTRATHECAL,),
        source="test",
    )
    with pytest.raises(BillingDataError, match="'mystery': has no HCPCS code"):
        load_reference(on=DAY, catalogue={**DRUGS, "mystery": uncoded})


def test_billing_unit_that_does_not_convert_to_the_drug_unit(data_dir: Path) -> None:
    edit_data_file(data_dir / "codes.toml", 'billing_unit = "500 mg"', 'billing_unit = "500 mL"')
    error = load_error(data_dir)
    assert (error.file, error.entry) == ("codes.toml", "J9200")
    assert "does not convert to mg" in str(error)


def test_billing_unit_that_disagrees_with_the_catalogue(data_dir: Path) -> None:
    edit_data_file(data_dir / "codes.toml", 'billing_unit = "1000 USP_U"', 'billing_unit = "100 USP_U"')
    assert "disagrees" in str(load_error(data_dir))


def test_heparin_units_never_convert_to_mass(data_dir: Path) -> None:
    edit_data_file(data_dir / "codes.toml", 'billing_unit = "1000 USP_U"', 'billing_unit = "1000 mg"')
    assert "does not convert to USP_U" in str(load_error(data_dir))


def test_missing_payer_profile_at_charge_time() -> None:
    reference = load_reference(on=DAY)
    with pytest.raises(BillingDataError) as caught:
        compute_charges(visit(payer_profile="aetna"), reference)
    assert (caught.value.file, caught.value.entry) == ("profiles.toml", "aetna")
    assert "known: commercial_example, medicare, tricare" in str(caught.value)


def test_profile_missing_a_decision(data_dir: Path) -> None:
    edit_data_file(data_dir / "profiles.toml", "a4220_billable = false  # [U]", "#")
    error = load_error(data_dir)
    assert (error.file, error.entry) == ("profiles.toml", "medicare")
    assert "missing key 'a4220_billable'" in str(error)


def test_misspelt_key_is_refused(data_dir: Path) -> None:
    edit_data_file(data_dir / "profiles.toml", "regional_dx = false", "regional_dx = false\nregonal_dx = true")
    assert "unknown key(s) 'regonal_dx'" in str(load_error(data_dir))


@pytest.mark.parametrize("name", ["mue.csv", "codes.toml", "manifest.toml"])
def test_missing_file(data_dir: Path, name: str) -> None:
    (data_dir / name).unlink()
    error = load_error(data_dir)
    assert (error.file, str(error)) == (name, f"{name}: file not found")


def test_malformed_rows(data_dir: Path) -> None:
    edit_data_file(data_dir / "mue.csv", "96523,2026-01-01,,1,3", "96523,2026-01-01,,one,3")
    assert "mue.csv [line 7 96523]" in str(load_error(data_dir))


def test_duplicate_rows(data_dir: Path) -> None:
    with (data_dir / "mue.csv").open("a") as handle:
        handle.write("96522,2026-01-01,,2,3,U,again\n")
    assert "96522 is listed twice from 2026-01-01" in str(load_error(data_dir))


def test_unknown_coverage_reference(data_dir: Path) -> None:
    edit_data_file(data_dir / "coverage.toml", 'drugs = ["baclofen"]', 'drugs = ["baclophen"]')
    error = load_error(data_dir)
    assert (error.file, error.entry) == ("coverage.toml", "uses.spinal_antispasmodic")


def test_malformed_icd10_in_coverage(data_dir: Path) -> None:
    edit_data_file(data_dir / "coverage.toml", '"C78.7"]', '"C787"]')
    assert "malformed ICD-10-CM code 'C787'" in str(load_error(data_dir))


def test_rows_apply_from_their_effective_date(data_dir: Path) -> None:
    with (data_dir / "mue.csv").open("a") as handle:
        handle.write("96522,2026-07-01,,2,2,V,quarterly update\n")
    before = load_reference(data_dir, on=date(2026, 6, 30))
    after = load_reference(data_dir, on=date(2026, 7, 1))
    assert (before.mue["96522"].units, after.mue["96522"].units) == (1, 2)
    assert (before.valid_from, before.valid_until) == (date(2026, 1, 1), date(2026, 7, 1))
    assert after.valid_from == date(2026, 7, 1)
    with pytest.raises(ValueError, match="load it for that date"):
        compute_charges(visit(), before)


def test_no_data_in_effect_before_2026(data_dir: Path) -> None:
    with pytest.raises(BillingDataError, match="not defined on 2025-06-01"):
        load_reference(data_dir, on=date(2025, 6, 1))
