"""Catalogue figures: the labels' values, and every figure either cited or marked "placeholder"."""

import re
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from schemas.drug import AmountBasis, DoseBasis, DoseGuard, Drug
from schemas.drug_catalogue import DRUGS, get_drug
from schemas.pump import DeliveryRoute, PumpModel
from schemas.pump_catalogue import PUMP_MODELS, get_pump_model
from schemas.sourcing import PLACEHOLDER, is_set

ENTRIES: list[Drug | PumpModel] = [*DRUGS.values(), *PUMP_MODELS.values()]
TAG = re.compile(r"\[(S|V|D)\]")


def _id(entry: Drug | PumpModel) -> str:
    return entry.drug_id if isinstance(entry, Drug) else entry.model_id


def test_ziconotide_figures_are_the_labels() -> None:
    drug = get_drug("ziconotide")
    assert drug.stock_concentrations == (0.025, 0.1)  # 25 and 100 ug/mL
    assert (drug.stability_days_first_fill, drug.stability_days, drug.stability_days_undiluted) == (14, 40, 84)
    assert "prialt.com" in drug.figure_sources["stability_days_first_fill"]


def test_baclofen_figures_are_the_labels() -> None:
    drug = get_drug("baclofen")
    assert drug.stock_concentrations == (0.05, 0.5, 2.0)  # Lioresal IT 50, 500, 2000 ug/mL
    assert drug.stability_days == 180
    assert drug.figure_sources["dose_guard"] == PLACEHOLDER  # the maintenance range was not found


def test_morphine_figures_are_the_labels() -> None:
    drug = get_drug("morphine")
    assert drug.stock_concentrations == (10.0, 25.0)  # Infumorph; 0.5 and 1 mg/mL were never confirmed
    guard = drug.dose_guard
    assert guard is not None
    assert (guard.basis, guard.minimum, guard.warn_above, guard.maximum) == (DoseBasis.MG_PER_DAY, 0.2, 10.0, 20.0)
    assert (guard.contains(15.0), guard.warns(15.0)) == (True, True)  # tolerant range exceeded: a warning
    assert (guard.contains(8.0), guard.warns(8.0)) == (True, False)
    assert (guard.contains(21.0), guard.warns(21.0)) == (False, False)  # above maximum: a hard stop
    assert "Infumorph" in drug.figure_sources["dose_guard"]


def _drug(**changes: Any) -> Drug:
    base: dict[str, Any] = {
        "drug_id": "test_drug",
        "name": "Test drug",
        "amount_basis": AmountBasis.MASS,
        "stock_concentrations": (1.0,),
        "stability_days": 30.0,
        "routes": (DeliveryRoute.INTRATHECAL,),
        "source": "test",
    }
    return Drug(**{**base, **changes})


@pytest.mark.parametrize("field", ["stability_days_first_fill", "stability_days_undiluted"])
@pytest.mark.parametrize("value", [0.0, -14.0])
def test_stability_figures_must_be_positive(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        _drug(**{field: value})
    assert getattr(_drug(**{field: 14.0}), field) == 14.0
    assert getattr(_drug(), field) is None


@pytest.mark.parametrize("warn_above", [0.1, 21.0])
def test_warn_above_must_lie_between_minimum_and_maximum(warn_above: float) -> None:
    with pytest.raises(ValidationError, match="warn_above"):
        DoseGuard(basis=DoseBasis.MG_PER_DAY, minimum=0.2, maximum=20.0, warn_above=warn_above, source="t")


def test_warn_above_may_sit_on_either_bound_and_is_optional() -> None:
    for warn_above in (0.2, 20.0):
        DoseGuard(basis=DoseBasis.MG_PER_DAY, minimum=0.2, maximum=20.0, warn_above=warn_above, source="t")
    guard = DoseGuard(basis=DoseBasis.MG_PER_DAY, minimum=0.2, maximum=20.0, source="t")
    assert guard.warn_above is None
    assert not guard.warns(19.0)


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        pytest.param({"stabilty_days": "[S] x"}, "not figures", id="misspelt field"),
        pytest.param({"name": "[S] x"}, "not figures", id="field that is no figure"),
        pytest.param({"dose_guard": "[S] x"}, "does not set", id="figure the entry leaves unset"),
        pytest.param({"stability_days": " "}, "empty citation", id="empty citation"),
    ],
)
def test_figure_sources_keys_must_be_figures_the_entry_sets(sources: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _drug(figure_sources=sources)


def test_pump_model_figure_sources_are_checked_too() -> None:
    data = get_pump_model("programmable-20").model_dump()
    with pytest.raises(ValidationError, match="not figures"):
        PumpModel(**{**data, "figure_sources": {"low_reservoir": "[S] x"}})
    with pytest.raises(ValidationError, match="does not set"):
        PumpModel(**{**data, "figure_sources": {"flow_law": "[S] x"}})


def test_an_uncited_figure_reads_as_a_placeholder() -> None:
    figures = _drug(figure_sources={"stability_days": "[S] somewhere"}).sourced_figures()
    assert {name: f.source for name, f in figures.items()} == {
        "stock_concentrations": PLACEHOLDER,
        "stability_days": "[S] somewhere",
        "relative_viscosity": PLACEHOLDER,
    }
    assert figures["stock_concentrations"].value == [1.0]


@pytest.mark.parametrize("entry", ENTRIES, ids=_id)
def test_every_catalogue_figure_is_cited_or_marked_placeholder_on_purpose(entry: BaseModel) -> None:
    assert isinstance(entry, Drug | PumpModel)
    given = {name for name in entry.FIGURES if is_set(getattr(entry, name))}
    assert set(entry.figure_sources) == given  # no figure is left to the default by oversight
    for name, source in entry.figure_sources.items():
        assert source == PLACEHOLDER or TAG.search(source), f"{name}: {source!r} carries no [S]/[V]/[D] tag"


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (get_drug("heparin"), "dose_guard"),
        (get_drug("heparin"), "stability_days"),
        (get_drug("floxuridine"), "stability_days"),
        (get_drug("glycerin"), "relative_viscosity"),
        (get_pump_model("hai-30"), "flow_law"),
        (get_pump_model("hai-30"), "min_rate_ml_per_day"),
        (get_pump_model("hai-30"), "low_reservoir_ml"),
        (get_pump_model("programmable-20"), "min_rate_ml_per_day"),
        (get_pump_model("programmable-40"), "max_rate_ml_per_day"),
    ],
)
def test_figures_nobody_could_source_say_placeholder(entry: Drug | PumpModel, field: str) -> None:
    assert entry.figure_sources[field] == PLACEHOLDER


def test_sourced_pump_figures_cite_their_sources() -> None:
    hai, sm20 = get_pump_model("hai-30"), get_pump_model("programmable-20")
    assert "Cancer 1986" in hai.figure_sources["protocol_interval_days"]  # the 14-day HAI cycle
    assert "Infusaid" in hai.figure_sources["rate_tolerance_pct"]
    assert "Neurosurgery 2004" in sm20.figure_sources["low_reservoir_ml"]
    assert "ANZCA" in sm20.figure_sources["rate_tolerance_pct"]
    assert "Neuromodulation 2017" in sm20.figure_sources["pocket_fill_threshold_ml"]
    assert "5-7 years" in sm20.figure_sources["battery_life_days"]
    assert "0.1-0.6 mg/kg/day" in get_drug("floxuridine").figure_sources["dose_guard"]
    assert "100 mg/mL" in get_drug("floxuridine").figure_sources["stock_concentrations"]
