"""Which catalogue figures come from a source, and which are placeholders.

A figure that reads like a fact but is a guess is worse than a visible gap: a nurse or a
reviewer cannot tell them apart. Every catalogue entry therefore maps each figure it sets to a
citation, or to the exact word ``"placeholder"``; a figure with no entry counts as a placeholder
too, so forgetting to cite can only make a figure look less certain, never more.
"""

from collections.abc import Collection, Mapping
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

__all__ = ["PLACEHOLDER", "SourcedFigure", "check_figure_sources", "figures_with_sources", "is_set"]

PLACEHOLDER: Final = "placeholder"


class SourcedFigure(BaseModel):
    """One figure as the API shows it: the value and where it comes from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: Any
    source: str


def is_set(value: object) -> bool:
    """A figure counts as given unless it is None or an empty sequence."""
    return value is not None and value != ()


def check_figure_sources(model: BaseModel, figures: Collection[str], sources: Mapping[str, str]) -> None:
    """Refuse keys that are not figure fields of ``model``, figures it leaves unset, and empty citations.

    Raises:
        ValueError: naming the offending keys.
    """
    unknown = sorted(set(sources) - set(figures))
    if unknown:
        raise ValueError(f"figure_sources names {unknown}, which are not figures (figures: {sorted(figures)})")
    unset = sorted(name for name in sources if not is_set(getattr(model, name)))
    if unset:
        raise ValueError(f"figure_sources cites {unset}, which this entry does not set")
    empty = sorted(name for name, text in sources.items() if not text.strip())
    if empty:
        raise ValueError(f"figure_sources gives {empty} an empty citation: cite it or write {PLACEHOLDER!r}")


def figures_with_sources(
    model: BaseModel, figures: Collection[str], sources: Mapping[str, str]
) -> dict[str, SourcedFigure]:
    """Each figure ``model`` sets, with its citation or ``"placeholder"``, in field order."""
    values = model.model_dump(mode="json")
    return {
        name: SourcedFigure(value=values[name], source=sources.get(name, PLACEHOLDER))
        for name in figures
        if is_set(getattr(model, name))
    }
