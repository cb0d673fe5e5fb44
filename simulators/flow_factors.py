"""The flow law's factor for many patient states at once, equal to the scalar law bit for bit.

A fleet needs the factor of every change point of every patient: tens of thousands a year for
10,000 patients, nearly all distinct (every flight has its own cabin pressure). Building a
validated :class:`schemas.flow_law.FlowConditions` for each cost as long as the fleet's run.

The law is basic arithmetic except the propellant's vapour pressure, an exponential of the body
temperature alone. So the vapour pressure is computed once per distinct temperature by the law's
own method, and the rest in numpy with the same operations in the same order: IEEE basic
operations round the same in numpy as in Python, so every factor equals the scalar one exactly.
The states are validated as a whole: each bound is an interval, so the extreme values pass
``FlowConditions`` exactly when all the values do.
"""

import numpy as np
import numpy.typing as npt

from schemas.flow_law import FlowConditions
from schemas.pump import PumpModel

__all__ = ["flow_factors"]

Floats = npt.NDArray[np.float64]


def flow_factors(
    model: PumpModel, temperature_c: Floats, pressure_mmhg: Floats, relative_viscosity: float = 1.0
) -> Floats:
    """``model.flow_factor`` of each (temperature, ambient pressure) pair, at the model's back pressure.

    Raises:
        pydantic.ValidationError: a value ``FlowConditions`` refuses.
    """
    temperature = np.asarray(temperature_c, dtype=np.float64)
    pressure = np.asarray(pressure_mmhg, dtype=np.float64)
    if temperature.shape != pressure.shape:
        raise ValueError("one pressure per temperature")
    if temperature.size == 0:
        return np.zeros(0)
    _validate(temperature, pressure, relative_viscosity)
    law = model.flow_law
    if law is None:
        return np.ones(temperature.shape)
    distinct = np.array(sorted(set(temperature.ravel().tolist())))  # a handful: hashing beats sorting them all
    vapour = np.array([law.vapour_pressure_mmhg(t) for t in distinct.tolist()])[np.searchsorted(distinct, temperature)]
    drive = vapour - pressure - law.reference_back_pressure_mmhg
    reference_drive = law.propellant_gauge_mmhg - law.reference_back_pressure_mmhg
    factor: Floats = np.maximum(drive / reference_drive, 0.0) / relative_viscosity
    return factor


def _validate(temperature: Floats, pressure: Floats, relative_viscosity: float) -> None:
    for pick in (np.min, np.max):
        FlowConditions(
            body_temperature_c=float(pick(temperature)),
            ambient_pressure_mmhg=float(pick(pressure)),
            relative_viscosity=relative_viscosity,
        )
