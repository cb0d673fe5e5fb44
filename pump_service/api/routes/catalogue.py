"""The pump-model and drug catalogues, read-only, each figure shown with its source.

Every entry is returned as before, plus ``figures``: each figure it sets as
``{"value": ..., "source": ...}``, where the source is a citation or ``"placeholder"``, so a
client never has to guess which numbers are sourced.
"""

from fastapi import APIRouter

from pump_service.api.pagination import PageDep
from pump_service.services.paging import Page, page_of
from schemas.drug import Drug
from schemas.drug_catalogue import DRUGS
from schemas.pump import PumpModel
from schemas.pump_catalogue import PUMP_MODELS
from schemas.sourcing import SourcedFigure

router = APIRouter(prefix="/catalogue", tags=["catalogue"])


class PumpModelEntry(PumpModel):
    figures: dict[str, SourcedFigure]

    @classmethod
    def of(cls, model: PumpModel) -> "PumpModelEntry":
        return cls(**dict(model), figures=model.sourced_figures())


class DrugEntry(Drug):
    figures: dict[str, SourcedFigure]

    @classmethod
    def of(cls, drug: Drug) -> "DrugEntry":
        return cls(**dict(drug), figures=drug.sourced_figures())


@router.get("/pump-models")
def read_pump_models(page: PageDep) -> Page[PumpModelEntry]:
    """The pump models, by id, a page at a time."""
    models = [PumpModelEntry.of(m) for m in PUMP_MODELS.values()]
    return page_of(models, key=lambda m: (m.model_id,), kinds=(str,), request=page, list_name="pump-models")


@router.get("/drugs")
def read_drugs(page: PageDep) -> Page[DrugEntry]:
    """The drugs, by id, a page at a time."""
    drugs = [DrugEntry.of(d) for d in DRUGS.values()]
    return page_of(drugs, key=lambda d: (d.drug_id,), kinds=(str,), request=page, list_name="drugs")
