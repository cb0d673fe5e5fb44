"""The pump-model and drug catalogues, read-only."""

from fastapi import APIRouter

from schemas.drug import Drug
from schemas.drug_catalogue import DRUGS
from schemas.pump import PumpModel
from schemas.pump_catalogue import PUMP_MODELS

router = APIRouter(prefix="/catalogue", tags=["catalogue"])


@router.get("/pump-models")
def read_pump_models() -> list[PumpModel]:
    return list(PUMP_MODELS.values())


@router.get("/drugs")
def read_drugs() -> list[Drug]:
    return list(DRUGS.values())
