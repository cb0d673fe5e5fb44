"""Drugs and infusates: how each is measured, dosed, guarded, kept and billed."""

from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.pump import DeliveryRoute
from schemas.sourcing import SourcedFigure, check_figure_sources, figures_with_sources

__all__ = ["AmountBasis", "DoseBasis", "DoseGuard", "Drug"]


class AmountBasis(StrEnum):
    """What an amount of the drug is counted in; vehicles (saline, glycerin) only have a volume."""

    MASS = "mass"  # canonical mg; concentrations in mg/mL
    ACTIVITY = "activity"  # canonical USP units; concentrations in USP_U/mL (heparin)
    VEHICLE = "vehicle"  # volume only


class DoseBasis(StrEnum):
    """How a daily dose is expressed, and so which canonical unit its guard is in."""

    MG_PER_KG_PER_DAY = "mg/kg/d"
    MG_PER_DAY = "mg/d"
    USP_U_PER_DAY = "USP_U/d"


class DoseGuard(BaseModel):
    """A daily dose range outside which a refill is refused unless a clinician overrides it.

    ``warn_above`` marks where a label's usual range ends but its hard limit does not (morphine:
    tolerant patients 1-10 mg/day, caution above 20): a dose between the two is shown as a
    warning, a dose above ``maximum`` is a hard stop.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    basis: DoseBasis
    minimum: float = Field(ge=0)
    maximum: float = Field(gt=0)
    warn_above: float | None = Field(None, gt=0, description="above this (and up to maximum) a dose is a warning")
    source: str

    @model_validator(mode="after")
    def _ordered(self) -> "DoseGuard":
        if self.minimum > self.maximum:
            raise ValueError("dose guard minimum exceeds maximum")
        if self.warn_above is not None and not self.minimum <= self.warn_above <= self.maximum:
            raise ValueError("dose guard warn_above must lie between minimum and maximum")
        return self

    def contains(self, dose: float) -> bool:
        """True if ``dose`` (canonical, in :attr:`basis`) lies inside the range."""
        return self.minimum <= dose <= self.maximum

    def warns(self, dose: float) -> bool:
        """True if ``dose`` is inside the range but above :attr:`warn_above`."""
        return self.warn_above is not None and self.warn_above < dose <= self.maximum


class Drug(BaseModel):
    """A catalogue entry for one drug or infusate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    drug_id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")
    name: str
    amount_basis: AmountBasis
    stock_concentrations: tuple[float, ...] = Field(
        (), description="available stock strengths, mg/mL or USP_U/mL; empty for vehicles"
    )
    max_concentration: float | None = Field(None, gt=0, description="highest strength allowed in a pump")
    stability_days: float | None = Field(
        None, gt=0, description="in-pump stability cap on the refill interval (diluted, when the label tells apart)"
    )
    stability_days_first_fill: float | None = Field(
        None, gt=0, description="cap on the first refill after a drug-naive pump is filled (ziconotide 14 days)"
    )
    stability_days_undiluted: float | None = Field(
        None, gt=0, description="cap when filled undiluted from the stock vial, if the label gives one"
    )
    dose_guard: DoseGuard | None = None
    relative_viscosity: float = Field(1.0, gt=0, description="infusate viscosity / saline; slows constant-flow pumps")
    routes: tuple[DeliveryRoute, ...]
    hcpcs_code: str | None = Field(None, pattern=r"^[A-Z][0-9]{4}$")
    billing_unit_amount: float | None = Field(None, gt=0, description="amount in one billing unit, canonical")
    billing_unit_label: str | None = None
    source: str
    figure_sources: dict[str, str] = Field(
        default_factory=dict, description="figure field -> citation, or 'placeholder' when unsourced"
    )

    FIGURES: ClassVar[tuple[str, ...]] = (
        "stock_concentrations",
        "max_concentration",
        "stability_days",
        "stability_days_first_fill",
        "stability_days_undiluted",
        "dose_guard",
        "relative_viscosity",
        "billing_unit_amount",
    )

    @model_validator(mode="after")
    def _consistent(self) -> "Drug":
        if self.amount_basis is AmountBasis.VEHICLE and (self.stock_concentrations or self.dose_guard):
            raise ValueError("a vehicle has no concentration or dose")
        if (self.hcpcs_code is None) != (self.billing_unit_amount is None):
            raise ValueError("hcpcs_code and billing_unit_amount go together")
        if self.max_concentration is not None and any(c > self.max_concentration for c in self.stock_concentrations):
            raise ValueError("a stock concentration exceeds max_concentration")
        check_figure_sources(self, self.FIGURES, self.figure_sources)
        return self

    def sourced_figures(self) -> dict[str, SourcedFigure]:
        """Every figure this entry sets, with its source or ``"placeholder"``."""
        return figures_with_sources(self, self.FIGURES, self.figure_sources)

    @property
    def concentration_unit(self) -> str | None:
        """Canonical concentration unit (``mg/mL``, ``USP_U/mL``) or None for a vehicle."""
        return {AmountBasis.MASS: "mg/mL", AmountBasis.ACTIVITY: "USP_U/mL"}.get(self.amount_basis)
