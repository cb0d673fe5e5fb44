"""Loading and validating the reference data (``pump_service/billing/data/`` by default).

:func:`load_reference` reads every table, keeps the rows in effect on the given date and checks
every cross-reference before returning: codes named by profiles, fees, MUEs and NCCI pairs exist;
each catalogue drug has a code whose billing unit converts (with pint, through
:mod:`schemas.units`) to the drug's own unit and agrees with the catalogue; coverage uses name real
routes, drugs, ICD-10 groups and documentation items. A data problem therefore surfaces at start-up
as one :class:`BillingDataError`, never as a half-priced visit.
"""

import math
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from pump_service.billing.coverage_data import read_coverage
from pump_service.billing.csv_tables import read_fee_rows, read_mue_rows, read_ptp_rows
from pump_service.billing.errors import BillingDataError
from pump_service.billing.facts import AMOUNT_UNITS
from pump_service.billing.reference import (
    ENGINE_CODES,
    CodeCategory,
    CodeInfo,
    CodeSystem,
    Coverage,
    DrugBilling,
    PayerProfile,
    ReferenceData,
)
from pump_service.billing.tables import Dated, Entry, change_dates, read_toml, select_in_effect
from schemas.drug import AmountBasis, Drug
from schemas.drug_catalogue import DRUGS
from schemas.pump import DeliveryRoute
from schemas.units import UnitError, parse_quantity, to_canonical

__all__ = ["DATA_DIR", "check_profile", "load_reference", "profile_rows"]

DATA_DIR = Path(__file__).resolve().parent / "data"
_TABLES = ("codes", "profiles", "coverage", "fee_schedule", "mue", "ptp")
_CODE = r"(?:[0-9]{4}[0-9A-Z]|[A-Z][0-9]{4})"
_KIND_OF_BASIS = {AmountBasis.MASS: "mass", AmountBasis.ACTIVITY: "activity", AmountBasis.VEHICLE: "volume"}


def load_reference(
    data_dir: Path | str | None = None, *, on: date, catalogue: Mapping[str, Drug] | None = None
) -> ReferenceData:
    """Load the reference tables in effect on ``on``.

    Args:
        data_dir: folder holding ``manifest.toml`` and the tables it names; the packaged data by default.
        on: the service date the tables are wanted for.
        catalogue: drugs that must be billable; :data:`schemas.drug_catalogue.DRUGS` by default.

    Raises:
        BillingDataError: a file is missing or malformed, an entry references an unknown code,
            profile, use, group, route or drug, a catalogue drug has no usable billing unit, or no
            conversion factor is in effect on ``on``.
    """
    root = Path(data_dir) if data_dir is not None else DATA_DIR
    manifest = Entry(read_toml(root / "manifest.toml"), file="manifest.toml", entry="manifest")
    release = Entry(manifest.table("release"), file="manifest.toml", entry="release")
    version = release.text("version")
    release.day("prepared", None)
    release.done()
    names = Entry(manifest.table("tables"), file="manifest.toml", entry="tables")
    files = {table: names.text(table) for table in _TABLES}
    names.done()
    factors = _conversion_factors(manifest.tables("conversion_factor", []))
    manifest.done()

    drug_catalogue = DRUGS if catalogue is None else catalogue
    code_rows = _code_rows(root / files["codes"])
    codes = select_in_effect(code_rows, on, file=files["codes"])
    missing = sorted(ENGINE_CODES - set(codes))
    if missing:
        raise BillingDataError(
            f"code {missing[0]} is used by the rule table but not defined on {on}",
            file=files["codes"],
            entry=missing[0],
        )
    drugs = {drug_id: _drug_billing(drug, codes, files["codes"]) for drug_id, drug in drug_catalogue.items()}
    coverage, coverage_from = read_coverage(root / files["coverage"], on, known_drugs=set(drug_catalogue))
    profile_rows = _profile_rows(root / files["profiles"])
    profiles = select_in_effect(profile_rows, on, file=files["profiles"])
    for profile in profiles.values():
        check_profile(profile, codes, coverage, files["profiles"])
    fee_rows = read_fee_rows(root / files["fee_schedule"])
    mue_rows = read_mue_rows(root / files["mue"])
    ptp_rows = read_ptp_rows(root / files["ptp"])
    fees = select_in_effect(fee_rows, on, file=files["fee_schedule"])
    mue = select_in_effect(mue_rows, on, file=files["mue"])
    ptp = select_in_effect(ptp_rows, on, file=files["ptp"])
    for file, referenced in (
        (files["fee_schedule"], set(fees)),
        (files["mue"], set(mue)),
        (files["ptp"], {c for edit in ptp.values() for c in (edit.column_1, edit.column_2)}),
    ):
        unknown = sorted(referenced - set(codes))
        if unknown:
            raise BillingDataError(
                f"unknown code {unknown[0]} (not in {files['codes']} on {on})", file=file, entry=unknown[0]
            )
    factor = select_in_effect(factors, on, file="manifest.toml").get("conversion_factor")
    if factor is None:
        raise BillingDataError(
            f"no conversion factor in effect on {on}", file="manifest.toml", entry="conversion_factor"
        )

    dates = change_dates([*code_rows, *profile_rows, *fee_rows, *mue_rows, *ptp_rows, *factors]) | {coverage_from}
    return ReferenceData(
        on=on,
        version=version,
        valid_from=max((d for d in dates if d <= on), default=on),
        valid_until=min((d for d in dates if d > on), default=None),
        codes=codes,
        drugs=drugs,
        profiles=profiles,
        fees=fees,
        conversion_factor_usd_per_rvu=factor,
        mue=mue,
        ptp=tuple(ptp[key] for key in sorted(ptp)),
        coverage=coverage,
    )


def _window(entry: Entry, default_from: date) -> tuple[date, date | None]:
    return entry.day("effective_from", default_from), entry.day("effective_to", None)


def _conversion_factors(raw: list[Mapping[str, Any]]) -> list[Dated[float]]:
    rows = []
    for index, item in enumerate(raw, 1):
        entry = Entry(item, file="manifest.toml", entry=f"conversion_factor #{index}")
        start, end = entry.day("effective_from"), entry.day("effective_to", None)
        value = entry.number("usd_per_rvu")
        entry.text("source", "")
        entry.done()
        if value <= 0:
            raise entry.error("usd_per_rvu must be positive")
        rows.append(Dated("conversion_factor", start, end, value, entry.entry))
    return rows


def _meta(document: dict[str, Any], file: str) -> date:
    meta = Entry(document.get("meta", {}), file=file, entry="meta")
    meta.text("version")
    start = meta.day("effective_from")
    meta.done()
    return start


def _code_rows(path: Path) -> list[Dated[CodeInfo]]:
    document = read_toml(path)
    default_from = _meta(document, path.name)
    top = Entry(document, file=path.name, entry="(top level)")
    top.table("meta")
    rows = []
    for code, raw in top.table("codes").items():
        entry = Entry(raw, file=path.name, entry=code)
        if not re.fullmatch(_CODE, code):
            raise entry.error("not a CPT/HCPCS code")
        start, end = _window(entry, default_from)
        category = _choice(entry, "category", CodeCategory)
        unit_text = entry.text("billing_unit", None)
        info = CodeInfo(
            code=code,
            system=_choice(entry, "system", CodeSystem),
            category=category,
            descriptor=entry.text("descriptor"),
            add_on=entry.flag("add_on", False),
            facility_billable=entry.flag("facility_billable", True),
            drug_administration=entry.flag("drug_administration", False),
            billing_unit=_billing_unit(entry, unit_text, category),
            billing_unit_label=unit_text,
            antineoplastic=entry.flag("antineoplastic", False),
            ncci_modifier_with=frozenset(_choices(entry, "ncci_modifier_with", CodeCategory)),
        )
        entry.done()
        rows.append(Dated(code, start, end, info, code))
    top.done()
    return rows


def _choice(entry: Entry, key: str, enum: Any) -> Any:
    value = entry.text(key)
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise entry.error(f"{key} {value!r} is not one of {allowed}") from None


def _choices(entry: Entry, key: str, enum: Any) -> list[Any]:
    values = entry.texts(key, ())
    try:
        return [enum(value) for value in values]
    except ValueError as exc:
        raise entry.error(f"{key}: {exc}") from None


def _billing_unit(entry: Entry, text: str | None, category: CodeCategory) -> Any:
    if category is CodeCategory.DRUG_UNCLASSIFIED:
        if text != "each":
            raise entry.error('a not-otherwise-classified code bills "each"')
        return None
    if category is not CodeCategory.DRUG:
        if text is not None:
            raise entry.error(f"a {category.value} code has no billing_unit")
        return None
    if text is None:
        raise entry.error("a drug code needs a billing_unit such as '10 mg'")
    try:
        quantity = parse_quantity(text)
    except UnitError as exc:
        raise entry.error(f"billing_unit {text!r}: {exc}") from None
    if not quantity.magnitude > 0:
        raise entry.error(f"billing_unit {text!r} must be positive")
    return quantity


def _drug_billing(drug: Drug, codes: Mapping[str, CodeInfo], file: str) -> DrugBilling:
    def fail(message: str) -> BillingDataError:
        return BillingDataError(
            f"catalogue drug {drug.drug_id!r}: {message}", file=file, entry=drug.hcpcs_code or drug.drug_id
        )

    if drug.hcpcs_code is None:
        raise fail("has no HCPCS code, so no billing unit")
    info = codes.get(drug.hcpcs_code)
    if info is None:
        raise fail(f"its code {drug.hcpcs_code} is unknown (no billing unit defined)")
    unit = AMOUNT_UNITS[drug.amount_basis]
    if info.category not in {CodeCategory.DRUG, CodeCategory.DRUG_UNCLASSIFIED}:
        raise fail(f"{info.code} is a {info.category.value} code, not a drug code")
    if info.billing_unit is not None:
        try:
            amount = to_canonical(info.billing_unit, _KIND_OF_BASIS[drug.amount_basis])
        except UnitError as exc:
            raise fail(
                f"billing unit {info.billing_unit_label!r} of {info.code} does not convert to {unit}: {exc}"
            ) from None
        if drug.billing_unit_amount is not None and not math.isclose(amount, drug.billing_unit_amount, rel_tol=1e-9):
            raise fail(
                f"catalogue billing unit {drug.billing_unit_amount:g} {unit} disagrees with {info.billing_unit_label!r}"
            )
    return DrugBilling(drug_id=drug.drug_id, name=drug.name, code=info, amount_unit=unit)


def _profile_rows(path: Path) -> list[Dated[PayerProfile]]:
    return profile_rows(read_toml(path), file=path.name, source=path.name)


def profile_rows(document: Mapping[str, Any], *, file: str, source: str) -> list[Dated[PayerProfile]]:
    """Parse a document in the schema of ``profiles.toml`` (``[meta]`` and ``[profiles.<id>]``).

    ``source`` is recorded on each profile (``profiles.toml``, ``clinic main v2``) so that a
    warning can say where the profile came from.

    Raises:
        BillingDataError: a missing, misspelt or malformed key, named with ``file`` and the profile.
    """
    default_from = _meta(dict(document), file)
    path_name = file
    top = Entry(document, file=path_name, entry="(top level)")
    top.table("meta")
    rows = []
    for profile_id, raw in top.table("profiles").items():
        entry = Entry(raw, file=path_name, entry=profile_id)
        if not re.fullmatch(r"[a-z][a-z0-9_]{1,40}", profile_id):
            raise entry.error("profile ids are lower_snake_case")
        start, end = _window(entry, default_from)
        schedule = entry.text("fee_schedule", pattern=r"mpfs|none")
        pairs = set()
        for pair in entry.texts("label_pairs"):
            route, _, drug = pair.partition(":")
            if route not in set(DeliveryRoute):
                raise entry.error(f"label pair {pair!r}: unknown route {route!r}")
            pairs.add((DeliveryRoute(route), drug))
        covered_from = {}
        for use_id, value in entry.table("covered_from", {}).items():
            if not isinstance(value, date):
                raise entry.error(f"covered_from.{use_id} must be a date")
            covered_from[use_id] = value
        profile = PayerProfile(
            profile_id=profile_id,
            name=entry.text("name"),
            fee_schedule=None if schedule == "none" else schedule,
            facility_pos=frozenset(entry.texts("facility_pos")),
            kd_modifier_on_pump_drugs=entry.flag("kd_modifier_on_pump_drugs"),
            jw_jz_modifiers=entry.flag("jw_jz_modifiers"),
            compounded_drug_code=entry.text("compounded_drug_code"),
            compounded_antineoplastic_code=entry.text("compounded_antineoplastic_code"),
            a4220_billable=entry.flag("a4220_billable"),
            a4220_patient_liability_zero=entry.flag("a4220_patient_liability_zero"),
            patency_drugs_billable=entry.flag("patency_drugs_billable"),
            drugs_billable_in_facility=entry.flag("drugs_billable_in_facility"),
            em_on_refill_visit=entry.flag("em_on_refill_visit"),
            imaging_guidance_billable=entry.flag("imaging_guidance_billable"),
            distinct_modifier=entry.text("distinct_modifier", pattern=r"[0-9A-Z]{2}"),
            covered_uses=entry.texts("covered_uses"),
            covered_from=covered_from,
            prior_auth_uses=frozenset(entry.texts("prior_auth_uses")),
            label_pairs=frozenset(pairs),
            excluded_uses=entry.texts("excluded_uses"),
            regional_dx=entry.flag("regional_dx"),
            source=source,
        )
        entry.done()
        if any(not re.fullmatch(r"[0-9]{2}", pos) for pos in profile.facility_pos):
            raise entry.error("facility_pos holds 2-digit place-of-service codes")
        rows.append(Dated(profile_id, start, end, profile, profile_id))
    top.done()
    return rows


def check_profile(profile: PayerProfile, codes: Mapping[str, CodeInfo], coverage: Coverage, file: str) -> None:
    """Check a profile's references (codes, coverage uses, drugs) against the loaded tables.

    Raises:
        BillingDataError: an unknown code, use or drug, naming ``file`` and the profile.
    """

    def fail(message: str) -> BillingDataError:
        return BillingDataError(message, file=file, entry=profile.profile_id)

    for key in ("compounded_drug_code", "compounded_antineoplastic_code"):
        code = getattr(profile, key)
        if code not in codes:
            raise fail(f"{key} {code} is an unknown code")
        if codes[code].category is not CodeCategory.DRUG_UNCLASSIFIED:
            raise fail(f"{key} {code} is not a not-otherwise-classified drug code")
    for use_id in (*profile.covered_uses, *profile.prior_auth_uses, *profile.covered_from):
        if use_id not in coverage.uses:
            raise fail(f"unknown coverage use {use_id!r}")
    for use_id in profile.excluded_uses:
        if use_id not in coverage.excluded:
            raise fail(f"unknown excluded use {use_id!r}")
    for _, drug in profile.label_pairs:
        if drug not in coverage.drugs:
            raise fail(f"label pair names unknown drug {drug!r}")
