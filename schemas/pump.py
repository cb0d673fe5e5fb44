"""Pump models: what a kind of pump is (capacity, flow, alarms, physics), shared by every layer."""

from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.flow_law import FlowConditions, PropellantFlowLaw
from schemas.sourcing import SourcedFigure, check_figure_sources, figures_with_sources

__all__ = ["DeliveryRoute", "PumpFamily", "PumpModel"]


class PumpFamily(StrEnum):
    """Constant-flow pumps have no electronics; programmable pumps are read and written by telemetry."""

    CONSTANT_FLOW = "constant_flow"
    PROGRAMMABLE = "programmable"


class DeliveryRoute(StrEnum):
    """Where the catheter delivers; it decides the refill billing codes and the drug guards."""

    INTRA_ARTERIAL = "intra_arterial"
    INTRAVENOUS = "intravenous"
    INTRATHECAL = "intrathecal"
    EPIDURAL = "epidural"
    INTRAVENTRICULAR = "intraventricular"


class PumpModel(BaseModel):
    """A catalogue entry. Device-level values (a unit's labelled rate) live on the pump record."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,31}$")
    name: str
    family: PumpFamily
    capacity_ml: float = Field(gt=0)
    nominal_rate_ml_per_day: float | None = Field(None, gt=0, description="default labelled rate (constant-flow)")
    min_rate_ml_per_day: float = Field(gt=0)
    max_rate_ml_per_day: float = Field(gt=0)
    rate_tolerance_pct: float = Field(gt=0, description="labelled delivery accuracy")
    low_reservoir_ml: float = Field(
        ge=0, description="low-reservoir alarm (programmable) or the residual to keep (constant-flow)"
    )
    near_empty_ml: float = Field(0.0, ge=0, description="below this the flow tapers (constant-flow bellows)")
    pocket_fill_threshold_ml: float | None = Field(
        None, gt=0, description="post-refill reading discrepancy that suggests a pocket fill"
    )
    protocol_interval_days: float | None = Field(None, gt=0, description="planned refill cycle, e.g. HAI 14 days")
    max_interval_days: float = Field(gt=0)
    unit_flow_spread_pct: float = Field(0.0, ge=0, description="manufacturing spread of a unit's true flow")
    flow_law: PropellantFlowLaw | None = None
    battery_life_days: float | None = Field(None, gt=0, description="implant to elective replacement (ERI)")
    eri_to_eos_days: float | None = Field(None, gt=0, description="ERI to end of service, when delivery stops")
    routes: tuple[DeliveryRoute, ...]
    source: str = Field(description="where the figures come from, with confidence")
    figure_sources: dict[str, str] = Field(
        default_factory=dict, description="figure field -> citation, or 'placeholder' when unsourced"
    )

    FIGURES: ClassVar[tuple[str, ...]] = (
        "capacity_ml",
        "nominal_rate_ml_per_day",
        "min_rate_ml_per_day",
        "max_rate_ml_per_day",
        "rate_tolerance_pct",
        "low_reservoir_ml",
        "near_empty_ml",
        "pocket_fill_threshold_ml",
        "protocol_interval_days",
        "max_interval_days",
        "unit_flow_spread_pct",
        "flow_law",
        "battery_life_days",
        "eri_to_eos_days",
    )

    @model_validator(mode="after")
    def _consistent(self) -> "PumpModel":
        if self.min_rate_ml_per_day > self.max_rate_ml_per_day:
            raise ValueError("min_rate_ml_per_day exceeds max_rate_ml_per_day")
        if self.low_reservoir_ml >= self.capacity_ml:
            raise ValueError("low_reservoir_ml must be below capacity_ml")
        if self.family is PumpFamily.CONSTANT_FLOW:
            if self.flow_law is None or self.nominal_rate_ml_per_day is None:
                raise ValueError("a constant-flow model needs a flow_law and a nominal_rate_ml_per_day")
        elif self.flow_law is not None:
            raise ValueError("a programmable pump's flow is set by its motor, not by a propellant flow law")
        elif self.battery_life_days is None or self.eri_to_eos_days is None:
            raise ValueError("a programmable pump needs battery_life_days and eri_to_eos_days")
        check_figure_sources(self, self.FIGURES, self.figure_sources)
        return self

    def sourced_figures(self) -> dict[str, SourcedFigure]:
        """Every figure this entry sets, with its source or ``"placeholder"``."""
        return figures_with_sources(self, self.FIGURES, self.figure_sources)

    def flow_factor(self, conditions: FlowConditions) -> float:
        """Effective / nominal flow under ``conditions``; programmable pumps are not affected (1.0)."""
        return 1.0 if self.flow_law is None else self.flow_law.flow_factor(conditions)
