"""The service catalog: departments, report categories, outcome reasons and business hours.

The catalog lives in ``data/catalog.yml`` (the municipality edits it, not the code). It is loaded and
validated once at start-up; any problem raises ``CatalogError`` whose message names the file, the
entry (e.g. ``categories.pothole``) and the problem, and the CLI turns that into exit code 2.

Everything a citizen reads here (names, descriptions, explanations) is es-MX.
"""

from __future__ import annotations

import string
from datetime import date, time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reporta.yamlfiles import load_yaml
from ticketing import models
from ticketing.errors import UnknownCategory, UnknownReason

#: Category codes every catalog must define (other rooms, the NLU and the tests rely on them).
REQUIRED_CATEGORIES = (
    "pothole", "streetlight", "garbage_collection", "illegal_dumping", "water_leak", "sewer", "tree", "park",
    "stray_animal", "traffic_signal", "sidewalk", "graffiti", "noise", "abandoned_vehicle", "street_cleaning",
)
#: Reason codes every catalog must define; the ticket service refers to them by these codes.
REQUIRED_REASONS = (
    "resolved", "duplicate", "out_of_jurisdiction", "needs_budget", "scheduled", "could_not_locate",
    "private_property", "no_problem_found", "cancelled_by_citizen",
)
#: Placeholders a reason explanation may use; filled by ``Reason.explain``.
REASON_PLACEHOLDERS = frozenset({"referred_to", "agency_contact", "scheduled_for", "duplicate_of"})
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class CatalogError(Exception):
    """An invalid catalog. ``str()`` is one line per problem: ``<file>: <entry>: <problem>``."""

    def __init__(self, path: Path | str, problems: list[tuple[str, str]]):
        self.path = Path(path)
        self.problems = problems  # (entry, problem)
        super().__init__("\n".join(f"{self.path}: {entry}: {problem}" for entry, problem in problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Referral(_Model):
    """An outside agency a category is referred to (e.g. the state water utility)."""

    agency: str = Field(min_length=1)
    contact: str = Field(min_length=1)  # phone, URL or office a citizen can use
    explanation: str = Field(min_length=1)  # es-MX, read by the citizen


class Department(_Model):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    name: str = Field(min_length=1, max_length=200)
    email: str | None = None
    phone: str | None = None


class Category(_Model):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    name: str = Field(min_length=1)  # es-MX display name
    description: str = Field(min_length=1)  # es-MX, what belongs in this category
    department: str  # a department code
    sla_business_days: int | None = Field(default=None, gt=0, le=365)
    sla_hours: int | None = Field(default=None, gt=0, le=24 * 365)
    photo: Literal["required", "optional", "never"]
    duplicate_radius_m: int = Field(gt=0, le=5000)
    referral: Referral | None = None
    urgent: bool = False  # urgent: the clock runs in calendar hours, 24/7
    #: Words that make one report of this category urgent ("tapando el paso", "sobre los cables"), and the
    #: shorter commitment such a report gets (calendar hours, 24/7). Both or neither.
    urgent_cues: tuple[str, ...] = ()
    urgent_sla_hours: int | None = Field(default=None, gt=0, le=24 * 30)

    @model_validator(mode="after")
    def _one_sla(self) -> Category:
        if (self.sla_business_days is None) == (self.sla_hours is None):
            raise ValueError("exactly one of sla_business_days and sla_hours must be set")
        if self.urgent and self.sla_hours is None:
            raise ValueError("an urgent category counts calendar hours: set sla_hours, not sla_business_days")
        if bool(self.urgent_cues) != (self.urgent_sla_hours is not None):
            raise ValueError("urgent_cues and urgent_sla_hours go together: set both or neither")
        if any(not cue.strip() for cue in self.urgent_cues):
            raise ValueError("urgent_cues: empty cue")
        return self

    def sla_text(self) -> str:
        """The service commitment in es-MX, e.g. ``3 días hábiles``, ``24 horas``, ``8 horas hábiles``."""
        if self.sla_business_days is not None:
            n = self.sla_business_days
            return f"{n} día hábil" if n == 1 else f"{n} días hábiles"
        n = self.sla_hours or 0
        unit = "hora" if n == 1 else "horas"
        return f"{n} {unit}" if self.urgent else f"{n} {unit} hábiles"


class Reason(_Model):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    name: str = Field(min_length=1)  # es-MX short label
    explanation: str = Field(min_length=1)  # es-MX plain words; may use REASON_PLACEHOLDERS

    @field_validator("explanation")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        try:
            names = {field for _, field, _, _ in string.Formatter().parse(value) if field is not None}
        except ValueError as exc:
            raise ValueError(f"explanation is not a valid template: {exc}") from None
        unknown = names - REASON_PLACEHOLDERS
        if unknown:
            raise ValueError(
                f"unknown placeholder(s) {sorted(unknown)} in explanation; allowed: {sorted(REASON_PLACEHOLDERS)}"
            )
        return value

    def explain(self, **values: Any) -> str:
        """The explanation with its placeholders filled (missing values become ``—``)."""

        class _Default(dict):
            def __missing__(self, key: str) -> str:
                return "—"

        return self.explanation.format_map(_Default({k: v for k, v in values.items() if v is not None}))


class BusinessHours(_Model):
    """When municipal offices work: the business-day and business-hour clock of non-urgent categories."""

    weekdays: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = ("mon", "tue", "wed", "thu", "fri")
    opens: time = time(9, 0)
    closes: time = time(17, 0)
    federal_holidays: bool = True  # Mexico's statutory days off (holidays package, country "MX")
    annual_holidays: tuple[str, ...] = ()  # "MM-DD" municipal days off every year, e.g. "11-02"
    extra_holidays: tuple[date, ...] = ()  # one-off days off, "YYYY-MM-DD"

    @field_validator("opens", "closes", mode="before")
    @classmethod
    def _quoted_time(cls, value: Any) -> Any:
        if isinstance(value, int):  # YAML 1.1 reads an unquoted 09:00 as the sexagesimal number 540
            raise ValueError('write times quoted, e.g. "09:00"')
        return value

    @field_validator("annual_holidays")
    @classmethod
    def _month_day(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                date.fromisoformat(f"2000-{item}")  # a leap year, so 02-29 is accepted
            except ValueError:
                raise ValueError(f"{item!r} is not a month-day like \"11-02\"") from None
        return value

    @model_validator(mode="after")
    def _sane(self) -> BusinessHours:
        if not self.weekdays:
            raise ValueError("weekdays must list at least one day")
        if self.opens >= self.closes:
            raise ValueError("opens must be earlier than closes")
        return self

    @property
    def weekday_numbers(self) -> frozenset[int]:
        return frozenset(WEEKDAYS.index(d) for d in self.weekdays)


class Office(_Model):
    """A municipal office for questions the bot does not take (predial, licencias...): who can help."""

    name: str = Field(min_length=1)  # es-MX, e.g. "Tesorería Municipal"
    topics: tuple[str, ...] = Field(min_length=1)  # words of a question that belong here ("predial", "multa")
    contact: str = Field(min_length=1)  # phone, address, hours or URL a citizen can use

    @field_validator("topics")
    @classmethod
    def _no_empty_topic(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not t.strip() for t in value):
            raise ValueError("empty topic")
        return value


class Catalog(_Model):
    business_hours: BusinessHours = BusinessHours()
    departments: dict[str, Department]
    categories: dict[str, Category]
    reasons: dict[str, Reason]
    #: When a person answers a conversation handed to staff (default: the business hours), and how long the bot
    #: waits for one before taking the conversation back.
    staff_hours: BusinessHours | None = None
    handoff_timeout_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    offices: tuple[Office, ...] = ()
    #: The department that answers conversations not yet tied to a report (the staff console's inbox).
    citizen_attention_department: str | None = None
    source: Path | None = Field(default=None, exclude=True)

    @property
    def staff_service_hours(self) -> BusinessHours:
        return self.staff_hours or self.business_hours

    def category(self, code: str) -> Category:
        try:
            return self.categories[code]
        except KeyError:
            raise UnknownCategory(
                f"unknown category {code!r}; known: {', '.join(sorted(self.categories))}"
            ) from None

    def reason(self, code: str) -> Reason:
        try:
            return self.reasons[code]
        except KeyError:
            raise UnknownReason(f"unknown reason {code!r}; known: {', '.join(sorted(self.reasons))}") from None

    def department(self, code: str) -> Department:
        return self.departments[code]


def _with_codes(raw: dict[str, Any], section: str, problems: list[tuple[str, str]]) -> Any:
    """Copy each entry's mapping key into its ``code`` (entries are keyed by code in the YAML)."""
    entries = raw.get(section)
    if not isinstance(entries, dict):
        if section in raw:
            problems.append((section, "must be a mapping of code: entry"))
        return entries
    out: dict[Any, Any] = {}
    for key, entry in entries.items():
        if isinstance(entry, dict):
            code = entry.get("code", key)
            if code != key:
                problems.append((f"{section}.{key}", f"code {code!r} differs from its key {key!r}"))
            entry = {**entry, "code": key}
        out[key] = entry
    return out


def _entry(loc: tuple[Any, ...]) -> tuple[str, str]:
    """Split a pydantic error location into (entry, field): ('categories','pothole','sla_hours')."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("departments", "categories", "reasons") and len(parts) >= 2:
        return ".".join(parts[:2]), ".".join(parts[2:])
    if parts and parts[0] in ("business_hours", "staff_hours"):
        return parts[0], ".".join(parts[1:])
    if parts and parts[0] == "offices" and len(parts) >= 2:
        return ".".join(parts[:2]), ".".join(parts[2:])
    return ".".join(parts) or "(top level)", ""


def parse_catalog(raw: Any, path: Path | str = "<catalog>") -> Catalog:
    """Validate an already-parsed YAML document; raises CatalogError."""
    path = Path(path)
    if not isinstance(raw, dict):
        raise CatalogError(path, [("(top level)", "the catalog must be a YAML mapping")])
    problems: list[tuple[str, str]] = []
    data = dict(raw)
    for section in ("departments", "categories", "reasons"):
        data[section] = _with_codes(data, section, problems)
    try:
        catalog = Catalog.model_validate({**data, "source": path})
    except ValidationError as exc:
        for err in exc.errors():
            entry, field = _entry(tuple(err["loc"]))
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                msg = "required field is missing"
            elif err["type"] == "extra_forbidden":
                msg = "unknown field (typo?)"
            problems.append((entry, f"{field}: {msg}" if field else msg))
        raise CatalogError(path, problems) from None
    for code, cat in catalog.categories.items():
        if cat.department not in catalog.departments:
            problems.append((f"categories.{code}", f"department {cat.department!r} is not defined in departments"))
    attention = catalog.citizen_attention_department
    if attention is not None and attention not in catalog.departments:
        problems.append(("citizen_attention_department", f"department {attention!r} is not defined in departments"))
    for code in REQUIRED_CATEGORIES:
        if code not in catalog.categories:
            problems.append((f"categories.{code}", "required category is missing"))
    for code in REQUIRED_REASONS:
        if code not in catalog.reasons:
            problems.append((f"reasons.{code}", "required reason is missing"))
    if problems:
        raise CatalogError(path, problems)
    return catalog


def load_catalog(path: Path) -> Catalog:
    """Read and validate ``path`` (YAML); raises CatalogError naming the file, the entry and the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(path, [("(file)", f"cannot read the catalog: {exc.strerror or exc}")]) from None
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError(path, [(where, f"invalid YAML: {problem}")]) from None
    return parse_catalog(raw, path)


def sync_departments(session: Session, catalog: Catalog) -> None:
    """Upsert the ``departments`` rows from the catalog (idempotent; departments are never deleted)."""
    existing = {d.code: d for d in session.scalars(select(models.Department))}
    for code, dept in catalog.departments.items():
        row = existing.get(code)
        if row is None:
            try:
                with session.begin_nested():
                    session.add(models.Department(code=code, name=dept.name, email=dept.email, phone=dept.phone))
            except IntegrityError:  # another process inserted it concurrently: update that row instead
                row = session.scalars(select(models.Department).where(models.Department.code == code)).one()
        if row is not None:
            row.name, row.email, row.phone = dept.name, dept.email, dept.phone
    session.flush()
