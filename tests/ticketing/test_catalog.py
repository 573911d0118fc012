"""The catalog: the shipped file is valid and complete; every kind of mistake is named precisely."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from tests.ticketing.conftest import CATALOG_PATH, write
from ticketing.catalog import REQUIRED_CATEGORIES, REQUIRED_REASONS, CatalogError, load_catalog, sync_departments
from ticketing.models import Department
from ticketing.service import UnknownCategory, UnknownReason

RAW = yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))


def test_shipped_catalog_is_complete(catalog) -> None:
    assert set(REQUIRED_CATEGORIES) <= set(catalog.categories)
    assert set(REQUIRED_REASONS) <= set(catalog.reasons)
    for code, cat in catalog.categories.items():
        assert cat.code == code
        assert cat.department in catalog.departments
        assert (cat.sla_business_days is None) != (cat.sla_hours is None)
        assert cat.name and cat.description and cat.duplicate_radius_m > 0
    # the state's water utility runs the water network: referred, with a Spanish explanation
    referral = catalog.category("water_leak").referral
    assert referral is not None and "agua" in referral.explanation.lower()
    assert catalog.category("traffic_signal").urgent
    assert catalog.category("illegal_dumping").photo == "required"
    assert catalog.category("noise").photo == "never"


def test_lookups_raise_clear_errors(catalog) -> None:
    with pytest.raises(UnknownCategory, match="unknown category 'volcano'"):
        catalog.category("volcano")
    with pytest.raises(UnknownReason, match="unknown reason 'bored'"):
        catalog.reason("bored")


def test_reason_explanations_fill_placeholders(catalog) -> None:
    text = catalog.reason("out_of_jurisdiction").explain(referred_to="Agua y Drenaje", agency_contact="073")
    assert "Agua y Drenaje" in text and "073" in text and "{" not in text
    assert "{" not in catalog.reason("scheduled").explain()  # a missing value never leaks a placeholder


def test_sla_text(catalog) -> None:
    assert catalog.category("pothole").sla_text() == "10 días hábiles"
    assert catalog.category("traffic_signal").sla_text() == "4 horas"


def _broken(tmp_path: Path, mutate) -> CatalogError:
    raw = copy.deepcopy(RAW)
    mutate(raw)
    path = write(tmp_path, yaml.safe_dump(raw, allow_unicode=True))
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    assert str(path) in message  # every message names the file
    return info.value


@pytest.mark.parametrize(
    ("mutate", "entry", "problem"),
    [
        (lambda r: r["categories"]["pothole"].update(sla_hours=24), "categories.pothole", "exactly one of"),
        (lambda r: r["categories"]["pothole"].pop("sla_business_days"), "categories.pothole", "exactly one of"),
        (lambda r: r["categories"]["tree"].update(department="parques"), "categories.tree",
         "department 'parques' is not defined"),
        (lambda r: r["categories"]["sewer"].update(photo="sometimes"), "categories.sewer", "photo"),
        (lambda r: r["categories"]["park"].update(duplicate_radius_m=0), "categories.park", "duplicate_radius_m"),
        (lambda r: r["categories"]["graffiti"].update(sla_dias=3), "categories.graffiti", "sla_dias: unknown field"),
        (lambda r: r["categories"]["noise"].pop("name"), "categories.noise", "name: required field is missing"),
        (lambda r: r["categories"].pop("streetlight"), "categories.streetlight", "required category is missing"),
        (lambda r: r["reasons"].pop("needs_budget"), "reasons.needs_budget", "required reason is missing"),
        (lambda r: r["reasons"]["scheduled"].update(explanation="El {dia}"), "reasons.scheduled",
         "unknown placeholder"),
        (lambda r: r["categories"]["water_leak"]["referral"].pop("agency"), "categories.water_leak",
         "referral.agency: required field is missing"),
        (lambda r: r["categories"]["traffic_signal"].update(sla_hours=None, sla_business_days=1),
         "categories.traffic_signal", "urgent"),
        (lambda r: r["business_hours"].update(opens="18:00"), "business_hours", "opens must be earlier"),
        (lambda r: r["business_hours"].update(opens=540), "business_hours", "quoted"),
        (lambda r: r["business_hours"].update(annual_holidays=["13-40"]), "business_hours", "month-day"),
        (lambda r: r["departments"]["movilidad"].pop("name"), "departments.movilidad", "name"),
    ],
)
def test_invalid_catalog_names_file_entry_and_problem(tmp_path: Path, mutate, entry: str, problem: str) -> None:
    error = _broken(tmp_path, mutate)
    assert any(e == entry and problem in p for e, p in error.problems), error.problems
    assert f": {entry}: " in str(error)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    with pytest.raises(CatalogError, match=r"nope\.yml: .*cannot read"):
        load_catalog(missing)
    bad = write(tmp_path, "departments: [\n  - : :\n")
    with pytest.raises(CatalogError, match=r"catalog.yml: line \d+, column \d+: invalid YAML"):
        load_catalog(bad)
    with pytest.raises(CatalogError, match=r"\(top level\): the catalog must be a YAML mapping"):
        load_catalog(write(tmp_path, "- just a list\n"))


def test_sync_departments_is_idempotent(session_factory, catalog) -> None:
    with session_factory() as s:
        sync_departments(s, catalog)
        sync_departments(s, catalog)
        s.commit()
        assert s.scalar(select(func.count()).select_from(Department)) == len(catalog.departments)
        row = s.scalars(select(Department).where(Department.code == "movilidad")).one()
        row.name = "old name"
        s.commit()
        sync_departments(s, catalog)
        s.commit()
        assert row.name == catalog.departments["movilidad"].name
