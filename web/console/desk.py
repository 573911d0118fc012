"""The ticket desk: the department's queue with filters (``web.console.queue``), one ticket's page (description,
photos, map point, landmark, nearby open duplicates, followers, audit timeline, scheduled date) and what staff
do with it, every change through ``TicketService``: status (only the allowed transitions, with a preview of
exactly what each follower will receive), internal note, assignment, routing correction (event ``rerouted``),
duplicate, evidence photo; and recording a report taken by phone or in person (``/console/tickets/new``).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from datetime import date, datetime, time
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from bot.media import MediaRejected, store_stream
from dialogue.render import sms_segments
from ticketing.attachments import add_attachment
from ticketing.citizens import get_or_create_identity, normalise_phone
from ticketing.errors import InvalidTransition, TicketError
from ticketing.models import ChannelKind, Citizen, StaffUser, Subscription, Ticket, TicketEvent, TicketStatus
from ticketing.service import ALLOWED_TRANSITIONS, REOPENABLE
from web.console.masking import mask_identifier, mask_phone
from web.console.pages import LABELS, actor, now, render, see_other, staff_page, unit_of_work
from web.console.queue import PAGE_SIZE, QueueFilters, is_overdue, queue_page
from web.console.scoping import ticket_or_404
from web.context import WebContext
from web.staff import StaffPrincipal

log = logging.getLogger(__name__)

#: The codes the console names (each one's Spanish label is in ``LABELS``: ``status``, ``channel``).
STATUS_CODES = ("received", "assigned", "in_progress", "resolved", "not_resolved", "closed")
CHANNEL_CODES = ("telegram", "whatsapp", "sms", "simulator", "phone", "walk_in")
#: Reasons staff pick for "cerrado sin resolver" (duplicate has its own form; resolved and scheduled are not).
NOT_RESOLVED_EXCLUDED = {"resolved", "duplicate", "scheduled"}
MAP_RADIUS_M = 300.0


def labels(pages: Any, macro: str, codes: tuple[str, ...]) -> dict[str, str]:
    """``{code: its Spanish label}`` from macro ``macro`` of ``LABELS``, in the order of ``codes``."""
    return {code: pages.macro_text(LABELS, macro, code) for code in codes}


def _actor_label(pages: Any, actor_value: str, names: dict[str, str]) -> str:
    if actor_value.startswith("staff:"):
        return names.get(actor_value[6:], actor_value[6:])
    if actor_value.startswith("citizen:"):
        return pages.macro_text(LABELS, "actor", "citizen")
    return pages.macro_text(LABELS, "actor", "system") if actor_value == "system" else actor_value


def map_points(center: tuple[float, float], others: list[tuple[str, float, float]]) -> list[dict[str, Any]]:
    """SVG coordinates (0..200) of nearby points around the ticket's, ±MAP_RADIUS_M metres."""
    lat0, lon0 = center
    out = []
    for folio, lat, lon in others:
        dy = (lat - lat0) * 111_320.0
        dx = (lon - lon0) * 111_320.0 * math.cos(math.radians(lat0))
        x = 100 + max(-1.0, min(1.0, dx / MAP_RADIUS_M)) * 90
        y = 100 - max(-1.0, min(1.0, dy / MAP_RADIUS_M)) * 90
        out.append({"folio": folio, "x": round(x, 1), "y": round(y, 1)})
    return out


#: The Spanish text of each ``FormError`` key (one macro, ``text``).
FORM_ERRORS = "console/form_errors.j2"


class FormError(Exception):
    """A form value staff must fix: ``field`` where it goes, ``key`` of its Spanish text in ``FORM_ERRORS``;
    ``str()`` is that text once ``render`` has looked it up (the page does before showing it)."""

    def __init__(self, field: str, key: str, **params: Any) -> None:
        super().__init__(key)
        self.field, self.key, self.params = field, key, params
        self.text = ""

    def render(self, pages: Any) -> FormError:
        self.text = pages.macro_text(FORM_ERRORS, "text", self.key, **self.params)
        return self

    def __str__(self) -> str:
        return self.text or self.key


def ticket_form_error(field: str, action: str, exc: TicketError) -> FormError:
    """The ticket service refused a change (its message is English, for logs): staff read why in Spanish."""
    log.warning("console: %s refused: %s", action, exc)
    key = "ticket_changed" if isinstance(exc, InvalidTransition) else "ticket_error"
    return FormError(field, key, action=action)


def _parse_local(value: str, tz: ZoneInfo) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(9, 0), tzinfo=tz)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise FormError("scheduled_for", "bad_date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def routes(ctx: WebContext) -> list[tuple[str, Any, list[str]]]:
    rt = ctx.runtime

    def tz() -> ZoneInfo:
        return ZoneInfo(rt().settings.timezone)

    def status_updates() -> Any:
        from notifications.updates import StatusUpdates

        for listener in rt().listeners:
            if isinstance(listener, StatusUpdates):
                return listener
        return StatusUpdates(rt().settings, rt().renderer, rt().catalog)

    # --- the queue ------------------------------------------------------------------------------------------------
    async def queue(request: Request, staff: StaffPrincipal) -> Response:
        filters = QueueFilters.from_query(request.query_params)

        def load() -> Response:
            with unit_of_work(ctx) as session:
                moment = now()
                page = queue_page(session, staff, filters, moment)
                department = staff.department_filter
                assignees = session.scalars(select(StaffUser).where(
                    *([StaffUser.department_id == department] if department is not None else []))
                    .order_by(StaffUser.display_name)).all()
                names = {s.id: s.display_name for s in assignees}
                rows = [{"t": t, "overdue": is_overdue(t, moment), "due": t.revised_due_at or t.due_at,
                         "late_days": max(0, (moment - (t.revised_due_at or t.due_at)).days),
                         "assignee": names.get(t.assigned_staff_id or -1, "—"),
                         "category": rt().catalog.categories[t.category_code].name
                         if t.category_code in rt().catalog.categories else t.category_code} for t in page.tickets]
                statuses = labels(ctx.pages, "status", STATUS_CODES)
                return render(ctx, request, "console/tickets.html", {
                    "rows": rows, "page": page, "filters": filters, "assignees": assignees, "statuses": statuses,
                    "channels": labels(ctx.pages, "channel", CHANNEL_CODES), "page_size": PAGE_SIZE,
                    "categories": sorted(rt().catalog.categories.values(), key=lambda c: c.name)})

        return await run_in_threadpool(load)

    # --- one ticket ----------------------------------------------------------------------------------------------
    def ticket_view(session: Session, staff: StaffPrincipal, ticket: Ticket) -> dict[str, Any]:
        service = rt().ticket_service(session)
        catalog = rt().catalog
        current = TicketStatus(ticket.status)
        names = {u.username: u.display_name for u in session.scalars(select(StaffUser))}
        pages = ctx.pages
        statuses = labels(pages, "status", STATUS_CODES)
        events = [{"e": e, "label": pages.macro_text(LABELS, "event", e.kind),
                   "actor": _actor_label(pages, e.actor, names),
                   "from": statuses.get(e.from_status or "", ""), "to": statuses.get(e.to_status or "", ""),
                   "reason": catalog.reasons[e.reason_code].name if e.reason_code in catalog.reasons else None}
                  for e in ticket.events]
        nearby: list[dict[str, Any]] = []
        points: list[dict[str, Any]] = []
        if ticket.lat is not None and ticket.lon is not None:
            try:
                found = service.find_duplicates(ticket.category_code, ticket.lat, ticket.lon, limit=6)
            except TicketError:
                found = []
            visible = [(t, d) for t, d in found if t.id != ticket.id and (
                staff.department_filter is None or t.department_id == staff.department_filter)][:5]
            nearby = [{"folio": t.folio, "distance": round(d), "created": t.created_at} for t, d in visible]
            points = map_points((ticket.lat, ticket.lon), [(t.folio, t.lat, t.lon) for t, _ in visible
                                                           if t.lat is not None and t.lon is not None])
        followers = session.scalar(select(func.count()).select_from(Subscription).where(
            Subscription.ticket_id == ticket.id, Subscription.active.is_(True))) or 0
        department = staff.department_filter
        colleagues = session.scalars(select(StaffUser).where(
            StaffUser.active.is_(True), StaffUser.department_id == (ticket.department_id if department is None
                                                                    else department)).order_by(
            StaffUser.display_name)).all()
        assigned = session.get(StaffUser, ticket.assigned_staff_id) if ticket.assigned_staff_id else None
        reporter = session.get(Citizen, ticket.reporter_id) if ticket.reporter_id else None
        transitions = [s.value for s in sorted(ALLOWED_TRANSITIONS[current], key=list(TicketStatus).index)]
        reasons = [r for code, r in catalog.reasons.items() if code not in NOT_RESOLVED_EXCLUDED]
        original = session.get(Ticket, ticket.duplicate_of_id) if ticket.duplicate_of_id else None
        return {
            "ticket": ticket, "status_label": statuses[current.value], "events": events, "nearby": nearby,
            "points": points, "followers": followers, "colleagues": colleagues, "assigned": assigned,
            "category": catalog.categories.get(ticket.category_code), "transitions": transitions,
            "statuses": statuses, "reasons": reasons, "overdue": is_overdue(ticket, now()),
            "photos": [a for a in ticket.attachments], "reopenable": current in REOPENABLE,
            "categories": sorted(catalog.categories.values(), key=lambda c: c.name),
            "reporter_name": ((reporter.display_name if reporter else None)
                              or pages.macro_text(LABELS, "missing", "name")),
            "reporter_masked": mask_phone(reporter.phone_e164) if reporter and reporter.phone_e164 else
            mask_identifier(None), "channel_label": pages.macro_text(LABELS, "channel", str(ticket.channel)),
            "original": original,
            "today": now().astimezone(tz()).date().isoformat(),
        }

    async def ticket_page(request: Request, staff: StaffPrincipal, *, form: dict[str, str] | None = None,
                          error: FormError | None = None, section: str = "") -> Response:
        def load() -> Response:
            with unit_of_work(ctx) as session:  # rendered inside the unit of work: relationships load lazily
                ticket = ticket_or_404(session, staff, request.path_params["folio"], events=True)
                view = ticket_view(session, staff, ticket)
                return render(ctx, request, "console/ticket.html", {
                    **view, "form": defaultdict(str, form or {}), "error": error,
                    "error_field": error.field if error else "", "form_section": section,
                    "done": request.query_params.get("hecho", "")[:20]}, status_code=400 if error else 200)

        return await run_in_threadpool(load)

    # --- the status change and its preview ----------------------------------------------------------------------
    def apply_status(service: Any, ticket: Ticket, form: dict[str, str], staff: StaffPrincipal) -> TicketEvent:
        target = (form.get("status") or "").strip()
        reason = (form.get("reason") or "").strip() or None
        public_note = (form.get("public_note") or "").strip()
        internal_note = (form.get("internal_note") or "").strip() or None
        current = TicketStatus(ticket.status)
        allowed = {s.value for s in ALLOWED_TRANSITIONS[current]} | (
            {"in_progress"} if current == TicketStatus.IN_PROGRESS else set())
        if target not in allowed:
            raise FormError("status", "status_not_offered")
        scheduled = _parse_local(form.get("scheduled_for", ""), tz())
        if target == "not_resolved":
            if not reason or reason in NOT_RESOLVED_EXCLUDED or reason not in rt().catalog.reasons:
                raise FormError("reason", "reason_needed")
            if not public_note:
                raise FormError("public_note", "public_note_needed")
        elif target == "in_progress" and scheduled is not None:
            reason = "scheduled"
        elif target == "in_progress" and current == TicketStatus.IN_PROGRESS:
            raise FormError("scheduled_for", "new_date_needed")
        else:
            reason = None if target != "resolved" else "resolved"
        if scheduled is not None:
            if target != "in_progress":
                raise FormError("scheduled_for", "date_only_in_progress")
            if scheduled.date() < now().astimezone(tz()).date():
                raise FormError("scheduled_for", "date_in_past")
        referred = (form.get("referred_to") or "").strip() or None
        try:
            return service.change_status(ticket, target, actor=actor(staff), reason=reason,
                                         public_note=public_note or None, internal_note=internal_note,
                                         scheduled_for=scheduled, referred_to=referred if reason ==
                                         "out_of_jurisdiction" else None)
        except TicketError as exc:
            raise ticket_form_error("status", "status", exc) from None

    def preview_messages(session: Session, staff: StaffPrincipal, ticket: Ticket,
                         form: dict[str, str]) -> list[dict[str, Any]]:
        """Exactly what each follower would receive: the change is made in a savepoint, rendered by the same
        update code and templates as the real notification, and rolled back."""
        from notifications.updates import recipients, render_channel

        out: list[dict[str, Any]] = []
        nested = session.begin_nested()
        try:
            service = rt().ticket_service(session, listeners=())
            event = apply_status(service, ticket, form, staff)
            update = status_updates().update_for(session, ticket, event)
            if update is not None:
                for identity in recipients(session, ticket):
                    written = render_channel(identity)
                    text = rt().renderer.render(update.template, written, **update.context)
                    out.append({"channel": ctx.pages.macro_text(LABELS, "channel", written),
                                "who": mask_identifier(identity.external_id), "text": text,
                                "segments": sms_segments(text) if written == "sms" else None})
        finally:
            nested.rollback()
        return out

    async def preview(request: Request, staff: StaffPrincipal) -> Response:
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}

        def run() -> tuple[list[dict[str, Any]], str]:
            with unit_of_work(ctx) as session:
                ticket = ticket_or_404(session, staff, request.path_params["folio"])
                try:
                    messages = preview_messages(session, staff, ticket, fields)
                    error = ""
                except FormError as exc:
                    messages, error = [], str(exc.render(ctx.pages))
                session.rollback()
                return messages, error

        messages, error = await run_in_threadpool(run)
        return render(ctx, request, "console/_preview.html", {"messages": messages, "preview_error": error})

    def ticket_action(handler: Any, section: str) -> Any:
        async def endpoint(request: Request, staff: StaffPrincipal) -> Response:
            form = await request.form()
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            upload = form.get("photo")

            def run() -> str:
                with unit_of_work(ctx) as session:
                    ticket = ticket_or_404(session, staff, request.path_params["folio"])
                    service = rt().ticket_service(session)
                    return handler(session, service, staff, ticket, fields, upload) or section

            try:
                done = await run_in_threadpool(run)
            except FormError as exc:
                await form.close()
                return await ticket_page(request, staff, form=fields, error=exc.render(ctx.pages), section=section)
            await form.close()
            rt().wake_outbox()
            return see_other(f"/console/tickets/{request.path_params['folio']}?hecho={quote(done)}#{section}")

        return staff_page(endpoint)

    def do_status(session: Session, service: Any, staff: StaffPrincipal, ticket: Ticket, form: dict[str, str],
                  upload: Any) -> str:
        apply_status(service, ticket, form, staff)
        return "estado"

    def do_reopen(session: Session, service: Any, staff: StaffPrincipal, ticket: Ticket, form: dict[str, str],
                  upload: Any) -> str:
        why = (form.get("reopen_reason") or "").strip()
        if not why:
            raise FormError("reopen_reason", "reopen_reason_needed")
        try:
            service.reopen(ticket, actor=actor(staff), internal_note=why,
                           public_note=(form.get("reopen_note") or "").strip() or None)
        except TicketError as exc:
            raise ticket_form_error("reopen_reason", "reopen", exc) from None
        return "reabierto"

    def do_note(session: Session, service: Any, staff: StaffPrincipal, ticket: Ticket, form: dict[str, str],
                upload: Any) -> str:
        note = (form.get("note") or "").strip()
        if not note:
            raise FormError("note", "note_needed")
        service.add_note(ticket, actor=actor(staff), internal_note=note)
        return "nota"

    def do_assign(session: Session, service: Any, staff: StaffPrincipal, ticket: Ticket, form: dict[str, str],
                  upload: Any) -> str:
        raw = (form.get("staff_id") or "").strip()
        target = session.get(StaffUser, int(raw)) if raw.isdigit() else None
        if target is None or not target.active or target.department_id != ticket.department_id:
            raise FormError("staff_id", "staff_not_in_department")
        try:
            service.assign(ticket, actor=actor(staff), staff_id=target.id)
        except TicketError as exc:
            raise ticket_form_error("staff_id", "assign", exc) from None
        return "asignado"

    def do_reroute(session: Session, service: Any, staff: StaffPrincipal, ticket: Ticket, form: dict[str, str],
                   upload: Any) -> str:
        category = (form.get("category") or "").strip()
        reason = (form.get("reroute_reason") or "").strip()
        if category not in rt().catalog.categories:
            raise FormError("category", "category_needed")
        if category == ticket.category_code:
            raise FormError("category", "same_category")
        if not reason:
            raise FormError("reroute_reason", "reroute_reason_needed")
        try:
            service.reroute(ticket, category, actor=actor(staff), reason=reason,
                            public_note=(form.get("reroute_note") or "").strip() or None)
        except TicketError as exc:
            raise ticket_form_error("category", "reroute", exc) from None
        return "ruta"

    def do_duplicate(session: Session, service: Any, staff: StaffPrincipal, ticket: Ticket, form: dict[str, str],
                     upload: Any) -> str:
        try:
            original = ticket_or_404(session, staff, form.get("original") or "")
        except Exception:
            raise FormError("original", "original_not_found") from None
        try:
            service.mark_duplicate(ticket, original, actor=actor(staff),
                                   public_note=(form.get("duplicate_note") or "").strip() or None)
        except TicketError as exc:
            raise ticket_form_error("original", "duplicate", exc) from None
        return "duplicado"

    def do_evidence(session: Session, service: Any, staff: StaffPrincipal, ticket: Ticket, form: dict[str, str],
                    upload: Any) -> str:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise FormError("photo", "photo_needed")
        settings = rt().settings

        def chunks() -> Any:
            upload.file.seek(0)
            while True:
                chunk = upload.file.read(64 * 1024)
                if not chunk:
                    return
                yield chunk

        try:
            stored = store_stream(settings, chunks(), declared_size=upload.size)
        except MediaRejected as exc:
            if exc.reason == "too_large":
                raise FormError("photo", "photo_too_large",
                                max_mb=settings.max_media_bytes // (1024 * 1024)) from None
            raise FormError("photo", "not_a_photo") from None
        attachment = add_attachment(session, stored, message_id=None, original_name=upload.filename[:255],
                                    kind="evidence")
        service.attach(ticket, attachment.id, actor=actor(staff), kind="evidence")
        return "evidencia"

    # --- a report taken by phone or in person -----------------------------------------------------------------
    async def new_ticket(request: Request, staff: StaffPrincipal) -> Response:
        catalog = rt().catalog
        categories = sorted(catalog.categories.values(), key=lambda c: c.name)
        if request.method == "GET":
            return render(ctx, request, "console/new_ticket.html", {"categories": categories, "form": defaultdict(str),
                                                                    "error": None, "error_field": ""})
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}

        def run() -> str:
            with unit_of_work(ctx) as session:
                channel = fields.get("channel") or ""
                if channel not in ("phone", "walk_in"):
                    raise FormError("channel", "channel_needed")
                category = fields.get("category") or ""
                if category not in catalog.categories:
                    raise FormError("category", "new_category_needed")
                if not (fields.get("description") or "").strip():
                    raise FormError("description", "description_needed")
                lat = lon = None
                if (fields.get("lat") or "").strip() or (fields.get("lon") or "").strip():
                    try:
                        lat, lon = float(fields.get("lat") or ""), float(fields.get("lon") or "")
                    except ValueError:
                        raise FormError("lat", "bad_coordinates") from None
                if lat is None and not (fields.get("address") or "").strip() and not (
                        fields.get("landmark") or "").strip():
                    raise FormError("address", "place_needed")
                identity = None
                raw_phone = (fields.get("phone") or "").strip()
                if raw_phone:
                    phone = normalise_phone(raw_phone)
                    if phone is None:
                        raise FormError("phone", "bad_phone")
                    identity = get_or_create_identity(session, ChannelKind.SMS, phone, phone=phone,
                                                      display_name=(fields.get("name") or "").strip()[:200] or None)
                service = rt().ticket_service(session)
                try:
                    ticket = service.create(category=category, description=fields.get("description") or "",
                                            channel=channel, actor=actor(staff), lat=lat, lon=lon,
                                            address=fields.get("address"), landmark=fields.get("landmark"),
                                            reporter_identity=identity)
                except TicketError as exc:
                    raise ticket_form_error("category", "create", exc) from None
                if staff.department_filter is not None and ticket.department_id != staff.department_filter:
                    return f"/console/tickets?aviso=registrado_otra&folio={ticket.folio}"
                return f"/console/tickets/{ticket.folio}?hecho=registrado"

        try:
            target = await run_in_threadpool(run)
        except FormError as exc:
            exc.render(ctx.pages)
            return render(ctx, request, "console/new_ticket.html", {
                "categories": categories, "form": defaultdict(str, fields), "error": exc, "error_field": exc.field},
                status_code=400)
        rt().wake_outbox()
        return see_other(target)

    async def ticket_get(request: Request, staff: StaffPrincipal) -> Response:
        return await ticket_page(request, staff)

    folio = "/console/tickets/{folio}"
    return [
        ("/console/tickets", staff_page(queue), ["GET"]),
        ("/console/tickets/new", staff_page(new_ticket), ["GET", "POST"]),
        (folio, staff_page(ticket_get), ["GET"]),
        (folio + "/preview", staff_page(preview), ["POST"]),
        (folio + "/status", ticket_action(do_status, "estado"), ["POST"]),
        (folio + "/note", ticket_action(do_note, "nota"), ["POST"]),
        (folio + "/reopen", ticket_action(do_reopen, "reabrir"), ["POST"]),
        (folio + "/assign", ticket_action(do_assign, "asignar"), ["POST"]),
        (folio + "/reroute", ticket_action(do_reroute, "ruta"), ["POST"]),
        (folio + "/duplicate", ticket_action(do_duplicate, "duplicado"), ["POST"]),
        (folio + "/evidence", ticket_action(do_evidence, "evidencia"), ["POST"]),
    ]

