"""The catalogue API shows each figure with its source; an uncited one says "placeholder"."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pump_service.api.app import create_app
from pump_service.settings import Settings
from schemas.drug import AmountBasis, Drug
from schemas.drug_catalogue import DRUGS
from schemas.pump import DeliveryRoute, PumpModel
from schemas.pump_catalogue import PUMP_MODELS
from schemas.sourcing import PLACEHOLDER, is_set
from tests.support import FixedClock


@pytest.fixture
def client(settings: Settings, engine: Engine, clock: FixedClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock, engine=engine)) as client:
        yield client


def _by_id(client: TestClient, path: str, key: str) -> dict[str, dict[str, Any]]:
    response = client.get(path)
    assert response.status_code == 200
    return {entry[key]: entry for entry in response.json()["items"]}


def _expected(entry: Drug | PumpModel) -> dict[str, dict[str, Any]]:
    values = entry.model_dump(mode="json")
    return {
        name: {"value": values[name], "source": entry.figure_sources.get(name, PLACEHOLDER)}
        for name in entry.FIGURES
        if is_set(getattr(entry, name))
    }


def test_every_figure_is_served_with_its_citation_or_placeholder(client: TestClient) -> None:
    drugs = _by_id(client, "/catalogue/drugs", "drug_id")
    models = _by_id(client, "/catalogue/pump-models", "model_id")
    assert set(drugs) == set(DRUGS)
    assert set(models) == set(PUMP_MODELS)
    for catalogue, served in ((DRUGS, drugs), (PUMP_MODELS, models)):
        for entry_id, entry in catalogue.items():
            assert served[entry_id]["figures"] == _expected(entry), entry_id
            uncited = {name for name, text in entry.figure_sources.items() if text == PLACEHOLDER}
            marked = {name for name, f in served[entry_id]["figures"].items() if f["source"] == PLACEHOLDER}
            assert marked == uncited, entry_id


def test_an_entry_without_citations_is_all_placeholder(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    bare = Drug(
        drug_id="uncited_drug",
        name="Uncited",
        amount_basis=AmountBasis.MASS,
        stock_concentrations=(5.0,),
        max_concentration=5.0,
        stability_days=30.0,
        routes=(DeliveryRoute.INTRATHECAL,),
        source="none",
    )
    monkeypatch.setitem(DRUGS, bare.drug_id, bare)
    figures = _by_id(client, "/catalogue/drugs", "drug_id")["uncited_drug"]["figures"]
    assert set(figures) == {"stock_concentrations", "max_concentration", "stability_days", "relative_viscosity"}
    assert {f["source"] for f in figures.values()} == {PLACEHOLDER}


def test_the_label_figures_are_served(client: TestClient) -> None:
    drugs = _by_id(client, "/catalogue/drugs", "drug_id")
    ziconotide, baclofen, morphine = drugs["ziconotide"], drugs["baclofen"], drugs["morphine"]
    assert ziconotide["figures"]["stability_days"]["value"] == 40
    assert ziconotide["figures"]["stability_days_first_fill"]["value"] == 14
    assert ziconotide["figures"]["stability_days_undiluted"]["value"] == 84
    assert ziconotide["figures"]["stock_concentrations"]["value"] == [0.025, 0.1]
    assert "prialt" in ziconotide["figures"]["stability_days"]["source"].lower()
    assert baclofen["figures"]["stock_concentrations"]["value"] == [0.05, 0.5, 2.0]
    assert "Lioresal" in baclofen["figures"]["stock_concentrations"]["source"]
    assert baclofen["figures"]["stability_days"]["value"] == 180
    assert baclofen["figures"]["dose_guard"]["source"] == PLACEHOLDER
    guard = morphine["figures"]["dose_guard"]
    assert (guard["value"]["minimum"], guard["value"]["warn_above"], guard["value"]["maximum"]) == (0.2, 10.0, 20.0)
    assert "Infumorph" in guard["source"]
    assert morphine["figures"]["stock_concentrations"]["value"] == [10.0, 25.0]


def test_the_existing_fields_are_still_served(client: TestClient) -> None:
    baclofen = _by_id(client, "/catalogue/drugs", "drug_id")["baclofen"]
    assert (baclofen["stability_days"], baclofen["stock_concentrations"], baclofen["max_concentration"]) == (
        180.0,
        [0.05, 0.5, 2.0],
        2.0,
    )
    assert baclofen["dose_guard"]["maximum"] == 2.0
    assert baclofen["figure_sources"]["dose_guard"] == PLACEHOLDER
    hai = _by_id(client, "/catalogue/pump-models", "model_id")["hai-30"]
    assert (hai["capacity_ml"], hai["low_reservoir_ml"]) == (30.0, 2.0)
    assert hai["figures"]["flow_law"]["source"] == PLACEHOLDER
