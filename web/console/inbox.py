"""The escalation inbox: conversations waiting for a person (emergencies first, then oldest first), one
conversation's whole transcript with photos and place, the bot's draft, and what staff do with it: take or
assign it, reply (through the outbox, on the citizen's own channel), create the report from it, hand it back
to the bot, close it, and show the citizen's full number (with a reason, logged).

Routes: ``/console/inbox``, ``/console/inbox/{id}`` and its ``POST`` actions; ``/console/media/{id}``
(a stored photo, only for staff who may see its conversation or ticket).
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import phonenumbers
from sqlalchemy import case, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from dialogue import handoff, handoff_log
from dialogue.render import sms_segments
from notifications.outbox import enqueue
from reporta.messages import OutboundMessage
from ticketing.errors import TicketError
from ticketing.models import (
    Attachment,
    ChannelIdentity,
    ChannelKind,
    Citizen,
    Conversation,
    ConversationMode,
    ConversationTicket,
    Direction,
    Message,
    OutboxMessage,
    PersonalDataAccess,
    StaffUser,
    Ticket,
)
from web.console.canned import load_canned
from web.console.masking import mask_identifier, mask_phone
from web.console.pages import LABELS, NOTICES, actor, now, render, see_other, staff_page, unit_of_work, waited
from web.console.scoping import (
    attention_department_id,
    conversation_department,
    conversation_or_404,
    conversation_ticket,
    not_found,
    scope_conversations,
    scope_tickets,
)
from web.context import WebContext
from web.staff import StaffPrincipal

log = logging.getLogger(__name__)

WHATSAPP_WINDOW = timedelta(hours=24)
TRANSCRIPT_LIMIT = 200
MAX_REPLY = 1500
DRAFT_LOOKBACK = timedelta(hours=24)
MEDIA_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp", ".heic": "image/heic",
               ".gif": "image/gif"}


def reason_label(pages: Any, code: str | None) -> str:
    """Why the bot handed the conversation over (``dialogue.handoff.REASONS``), or that no reason was kept."""
    if code is None:
        return pages.macro_text(LABELS, "missing", "reason")
    return handoff.REASONS.get(code, code)


@dataclass
class Line:
    at: datetime
    who: str  # citizen | bot | staff
    kind: str
    text: str
    photos: list[int]
    location: dict[str, Any] | None
    status: str | None = None


def _is_staff_kind(kind: str) -> bool:
    return kind in ("staff_reply", "handoff_closed", "report_created_by_staff")


def transcript(session: Session, conv: Conversation) -> list[Line]:
    inbound = session.scalars(select(Message).where(Message.identity_id == conv.identity_id,
                                                    Message.direction == Direction.INBOUND)
                              .order_by(Message.id.desc()).limit(TRANSCRIPT_LIMIT)).all()
    outbound = session.scalars(select(OutboxMessage).where(OutboxMessage.identity_id == conv.identity_id,
                                                           OutboxMessage.kind != "sms_fallback")
                               .order_by(OutboxMessage.id.desc()).limit(TRANSCRIPT_LIMIT)).all()
    photos: dict[int, list[int]] = {}
    ids = [m.id for m in inbound]
    if ids:
        for att_id, message_id in session.execute(select(Attachment.id, Attachment.message_id)
                                                  .where(Attachment.message_id.in_(ids)).order_by(Attachment.id)):
            photos.setdefault(message_id, []).append(att_id)
    lines = [Line(m.created_at, "citizen", m.kind, m.text or "", photos.get(m.id, []),
                  (m.payload or {}).get("location")) for m in inbound]
    lines += [Line(o.created_at, "staff" if _is_staff_kind(o.kind) else "bot", o.kind, o.body or "", [], None,
                   str(o.status)) for o in outbound]
    lines.sort(key=lambda line: line.at)
    return lines[-TRANSCRIPT_LIMIT:]


def draft(ctx: WebContext, session: Session, conv: Conversation, lines: list[Line]) -> dict[str, Any]:
    """What the bot had gathered: the conversation's slots when kept, else the recent transcript (photos not yet
    in a report, the last shared place, the citizen's words), and the NLU's category for those words."""
    slots = conv.slots or {}
    since = now() - DRAFT_LOOKBACK
    recent = [line for line in lines if line.who == "citizen" and line.at >= since]
    photo_ids = [int(p) for p in slots.get("photos") or []] or [p for line in recent for p in line.photos]
    if photo_ids:
        free = set(session.scalars(select(Attachment.id).where(Attachment.id.in_(photo_ids),
                                                               Attachment.ticket_id.is_(None))))
        photo_ids = [p for p in photo_ids if p in free]
    location = None
    if slots.get("lat") is not None:
        location = {"lat": slots.get("lat"), "lon": slots.get("lon"), "address": slots.get("address")}
    else:
        for line in reversed(recent):
            if line.location:
                location = line.location
                break
    words = [line.text for line in recent if line.kind == "text" and line.text][-6:]
    description = slots.get("description") or "\n".join(words)
    category = slots.get("category")
    if not category and description:
        parser = ctx.runtime().parser
        if parser is not None:
            try:
                problems = parser.parse(description).problems
                category = problems[0] if problems else None
            except Exception:  # the draft is a help, never a reason for the page to fail
                log.debug("draft: NLU parse failed", exc_info=True)
    return {"category": category, "description": description[:4000], "photos": photo_ids, "location": location,
            "address": (location or {}).get("address") or slots.get("address") or "",
            "landmark": slots.get("landmark") or ""}


def window(ctx: WebContext, identity: ChannelIdentity, citizen: Citizen) -> dict[str, Any]:
    """The channel's delivery facts the reply box shows (WhatsApp's 24 h window, SMS segments)."""
    rt = ctx.runtime()
    channel = ChannelKind(identity.channel).value
    info: dict[str, Any] = {"channel": channel}
    if channel == "whatsapp":
        last = identity.last_inbound_at
        open_until = last + WHATSAPP_WINDOW if last else None
        info["open"] = open_until is not None and open_until > now()
        info["open_until"] = open_until
        templates = rt.settings.whatsapp_content_templates
        if templates.get("staff_reply") or templates.get("staff"):
            plan = "whatsapp_template"
        elif citizen.phone_e164 and "sms" in rt.senders:
            plan = "sms"
        else:
            plan = "undeliverable"
        info["closed_plan"] = ctx.pages.macro_text(NOTICES, "closed_plan", plan)
    return info


def reply_segments(ctx: WebContext, staff: StaffPrincipal, text: str) -> int:
    body = ctx.runtime().renderer.render("handoff_staff_reply", "sms", staff_name=staff.name, text=text or " ")
    return sms_segments(body)


def routes(ctx: WebContext) -> list[tuple[str, Any, list[str]]]:
    rt = ctx.runtime

    # --- the list ----------------------------------------------------------------------------------------------
    def queue_rows(session: Session, staff: StaffPrincipal) -> list[dict[str, Any]]:
        attention = attention_department_id(session, rt().catalog)
        emergency = case((Conversation.handoff_reason == "anguished", 0), else_=1)
        stmt = scope_conversations(
            select(Conversation, ChannelIdentity, Citizen, StaffUser.display_name)
            .join(ChannelIdentity, ChannelIdentity.id == Conversation.identity_id)
            .join(Citizen, Citizen.id == Conversation.citizen_id)
            .outerjoin(StaffUser, StaffUser.id == Conversation.handoff_staff_id)
            .where(Conversation.mode == ConversationMode.HANDOFF),
            staff, attention,
        ).order_by(emergency, Conversation.handoff_requested_at, Conversation.id).limit(200)
        moment = now()
        no_name = ctx.pages.macro_text(LABELS, "missing", "name")
        rows = []
        for conv, identity, citizen, staff_name in session.execute(stmt).all():
            last = session.execute(select(Message.text, Message.kind, Message.created_at)
                                   .where(Message.identity_id == identity.id, Message.direction == Direction.INBOUND)
                                   .order_by(Message.id.desc()).limit(1)).first()
            rows.append({
                "id": conv.id, "channel": ChannelKind(identity.channel).value,
                "name": citizen.display_name or no_name, "reason": conv.handoff_reason,
                "reason_label": reason_label(ctx.pages, conv.handoff_reason),
                "emergency": conv.handoff_reason == "anguished",
                "waiting": waited(conv.handoff_requested_at, moment), "staff_name": staff_name,
                "mine": conv.handoff_staff_id == staff.id,
                "last": (last.text or f"[{last.kind}]")[:140] if last else "",
            })
        return rows

    async def inbox(request: Request, staff: StaffPrincipal) -> Response:
        from web.console.live import page_fingerprint

        def load() -> tuple[list[dict[str, Any]], str]:
            with unit_of_work(ctx) as session:
                return queue_rows(session, staff), page_fingerprint(session, rt(), staff, "inbox", None)

        rows, seen = await run_in_threadpool(load)
        name = "console/_inbox_list.html" if request.headers.get("x-console-live") else "console/inbox.html"
        return render(ctx, request, name, {"rows": rows, "live": "inbox", "current": None, "seen": seen})

    # --- one conversation ----------------------------------------------------------------------------------------
    def conversation_view(session: Session, staff: StaffPrincipal, conv: Conversation) -> dict[str, Any]:
        identity = conv.identity
        citizen = session.get(Citizen, conv.citizen_id)
        assert citizen is not None
        lines = transcript(session, conv)
        holder = session.get(StaffUser, conv.handoff_staff_id) if conv.handoff_staff_id else None
        ticket = conversation_ticket(session, conv.id)
        department = staff.department_filter
        colleagues = session.scalars(
            select(StaffUser).where(StaffUser.active.is_(True),
                                    *([StaffUser.department_id == department] if department is not None else []))
            .order_by(StaffUser.display_name)).all()
        channel = ChannelKind(identity.channel).value
        return {
            "conv": conv, "channel": channel,
            "citizen_name": citizen.display_name or ctx.pages.macro_text(LABELS, "missing", "name"),
            "masked": mask_phone(citizen.phone_e164) if citizen.phone_e164 else mask_identifier(identity.external_id),
            "has_phone": bool(citizen.phone_e164 or channel in ("whatsapp", "sms")),
            "lines": lines, "holder": holder, "mine": holder is not None and holder.id == staff.id,
            "waiting_for_staff": conv.mode == ConversationMode.HANDOFF,
            "reason_label": reason_label(ctx.pages, conv.handoff_reason),
            "emergency": conv.handoff_reason == "anguished",
            "ticket": ticket, "draft": draft(ctx, session, conv, lines), "window": window(ctx, identity, citizen),
            "segments": reply_segments(ctx, staff, ""), "canned": load_canned(rt().settings.data_dir),
            "categories": sorted(rt().catalog.categories.values(), key=lambda c: c.name),
            "colleagues": colleagues, "can_assign": staff.role in ("supervisor", "admin"),
            "waited": waited(conv.handoff_requested_at, now()),
        }

    async def conversation_page(request: Request, staff: StaffPrincipal) -> Response:
        live = request.headers.get("x-console-live")
        name = "console/_transcript.html" if live == "conversation" else (
            "console/_inbox_list.html" if live == "inbox" else "console/conversation.html")

        def load() -> Response:
            with unit_of_work(ctx) as session:  # rendered inside the unit of work: relationships load lazily
                conv = conversation_or_404(session, staff, rt().catalog, request.path_params["cid"])
                from web.console.live import page_fingerprint

                seen = page_fingerprint(session, rt(), staff, "conversation", conv.id)
                view = conversation_view(session, staff, conv)
                return render(ctx, request, name, {**view, "rows": queue_rows(session, staff), "live": "conversation",
                                                   "current": conv.id, "seen": seen})

        return await run_in_threadpool(load)

    def action(handler: Any) -> Any:
        """A POST on one conversation: load it (scoped, 404 otherwise), run ``handler``, commit, redirect."""

        async def endpoint(request: Request, staff: StaffPrincipal) -> Response:
            form = await request.form()
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            await form.close()

            def run() -> str:
                with unit_of_work(ctx) as session:
                    conv = conversation_or_404(session, staff, rt().catalog, request.path_params["cid"])
                    return handler(session, staff, conv, fields) or f"/console/inbox/{conv.id}"

            try:
                target = await run_in_threadpool(run)
            except (handoff.HandoffError, TicketError, ValueError) as exc:
                log.info("inbox action refused: %s", exc)
                return see_other(f"/console/inbox/{request.path_params['cid']}?error={quote(_error_code(exc))}")
            rt().wake_outbox()
            return see_other(target)

        return staff_page(endpoint)

    def staff_row(session: Session, staff: StaffPrincipal) -> StaffUser:
        user = session.get(StaffUser, staff.id)
        assert user is not None
        return user

    def take(session: Session, staff: StaffPrincipal, conv: Conversation, form: dict[str, str]) -> None:
        _lock(session, conv)
        if conv.mode != ConversationMode.HANDOFF:
            raise handoff.HandoffError("not waiting")
        conv.handoff_staff_id = staff.id
        handoff_log.taken(session, conv.id)

    def assign(session: Session, staff: StaffPrincipal, conv: Conversation, form: dict[str, str]) -> None:
        if staff.role not in ("supervisor", "admin"):
            raise ValueError("forbidden_assign")
        _lock(session, conv)
        target = session.get(StaffUser, int(form.get("staff_id") or 0))
        if target is None or not target.active or (staff.department_filter is not None
                                                   and target.department_id != staff.department_filter):
            raise ValueError("unknown_staff")
        conv.handoff_staff_id = target.id
        handoff_log.taken(session, conv.id)

    def reply(session: Session, staff: StaffPrincipal, conv: Conversation, form: dict[str, str]) -> None:
        text = (form.get("text") or "").strip()
        if not text:
            raise ValueError("empty_reply")
        if len(text) > MAX_REPLY:
            raise ValueError("long_reply")
        handoff.reply(session, conv.id, text, staff_row(session, staff), renderer=rt().renderer)

    def back_to_bot(session: Session, staff: StaffPrincipal, conv: Conversation, form: dict[str, str]) -> str:
        handoff.close(session, conv.id, staff_row(session, staff), renderer=rt().renderer, catalog=rt().catalog)
        return "/console/inbox?aviso=devuelta"

    def close(session: Session, staff: StaffPrincipal, conv: Conversation, form: dict[str, str]) -> str:
        _lock(session, conv)
        if conv.mode != ConversationMode.HANDOFF:
            raise handoff.HandoffError("not waiting")
        conv.mode = ConversationMode.BOT
        conv.handoff_reason = None
        conv.handoff_requested_at = None
        conv.handoff_staff_id = None
        conv.misunderstood_count = 0
        handoff_log.closed(session, conv.id, "console_close")
        draft = dict((conv.slots or {}).get("draft") or {})
        # an unsent report kept for staff stays with the citizen (resumed at its question), unless staff already
        # filed it from this conversation
        handoff.resume_draft(conv, draft if conversation_ticket(session, conv.id) is None else {})
        return "/console/inbox?aviso=cerrada"

    def create_report(session: Session, staff: StaffPrincipal, conv: Conversation, form: dict[str, str]) -> str:
        if conversation_ticket(session, conv.id) is not None:
            raise ValueError("already_reported")
        lat, lon = _coordinates(form)
        identity = conv.identity
        photos = [int(p) for p in (form.get("photos") or "").split(",") if p.strip().isdigit()]
        allowed = {line_photo for line in transcript(session, conv) for line_photo in line.photos}
        photos = [p for p in photos if p in allowed]
        service = rt().ticket_service(session)
        ticket = service.create(
            category=form.get("category") or "", description=form.get("description") or "",
            channel=ChannelKind(identity.channel), actor=actor(staff), lat=lat, lon=lon,
            address=form.get("address"), landmark=form.get("landmark"), reporter_identity=identity,
            attachment_ids=photos,
        )
        session.add(ConversationTicket(conversation_id=conv.id, ticket_id=ticket.id, created_at=now()))
        _send_folio(session, ticket, identity)
        session.flush()
        if staff.department_filter is not None and ticket.department_id != staff.department_filter:
            return "/console/inbox?aviso=reporte_otra"  # the conversation went with its report
        return f"/console/inbox/{conv.id}?aviso=reporte"

    def _send_folio(session: Session, ticket: Ticket, identity: ChannelIdentity) -> None:
        from notifications.updates import TicketContext, render_channel

        tctx = TicketContext(rt().settings, rt().catalog)
        category = rt().catalog.category(ticket.category_code)
        context = {**tctx.base(ticket), "due": tctx.date(ticket.due_at, with_time=True),
                   "referral": category.referral.explanation if category.referral else None}
        written_for = render_channel(identity)
        text = rt().renderer.render("report_created", written_for, **context)
        message = OutboundMessage(channel=ChannelKind(identity.channel).value, external_id=identity.external_id,
                                  text=text, kind="report_created")
        row = enqueue(session, identity, message, kind="report_created", dedupe_key=f"console-folio:{ticket.id}",
                      ticket_id=ticket.id)
        row.payload = {**(row.payload or {}), "sms_body": rt().renderer.render("report_created", "sms", **context),
                       "template_variables": {"1": ticket.folio, "2": "registrado", "3": context["category"]}}

    def reveal(session: Session, staff: StaffPrincipal, conv: Conversation, form: dict[str, str]) -> str:
        reason = (form.get("reason") or "").strip()
        if len(reason) < 5:
            raise ValueError("reveal_reason")
        session.add(PersonalDataAccess(staff_id=staff.id, citizen_id=conv.citizen_id, identity_id=conv.identity_id,
                                       what="phone", reason=reason[:1000], path=f"/console/inbox/{conv.id}",
                                       created_at=now()))
        session.flush()
        return ""

    async def reveal_endpoint(request: Request, staff: StaffPrincipal) -> Response:
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}

        def run() -> str | None:
            with unit_of_work(ctx) as session:
                conv = conversation_or_404(session, staff, rt().catalog, request.path_params["cid"])
                reveal(session, staff, conv, fields)
                citizen = session.get(Citizen, conv.citizen_id)
                identity = conv.identity
                number = citizen.phone_e164 if citizen is not None and citizen.phone_e164 else (
                    identity.external_id if ChannelKind(identity.channel).value in ("whatsapp", "sms") else None)
                return _pretty(number) if number else None

        try:
            number = await run_in_threadpool(run)
        except ValueError:
            return see_other(f"/console/inbox/{request.path_params['cid']}?error=reveal_reason")
        return render(ctx, request, "console/revealed.html", {
            "number": number or ctx.pages.macro_text(LABELS, "missing", "number"),
            "back": f"/console/inbox/{request.path_params['cid']}"})

    async def segments(request: Request, staff: StaffPrincipal) -> Response:
        form = await request.form()
        text = str(form.get("text") or "")[:MAX_REPLY]
        count = reply_segments(ctx, staff, text)
        return HTMLResponse(html.escape(ctx.pages.macro_text(NOTICES, "sms_segments", count)))

    # --- media ------------------------------------------------------------------------------------------------
    async def media(request: Request, staff: StaffPrincipal) -> Response:
        def find() -> tuple[Path, str]:
            with unit_of_work(ctx) as session:
                try:
                    att = session.get(Attachment, int(request.path_params["aid"]))
                except ValueError:
                    raise not_found() from None
                if att is None or not _may_see(session, staff, att):
                    raise not_found()
                path = Path(att.storage_path)
                if not path.is_absolute():
                    path = rt().settings.media_path / path
                return path, att.content_type

        path, content_type = await run_in_threadpool(find)
        if not path.is_file():
            raise not_found()
        return FileResponse(path, media_type=content_type, headers={"cache-control": "private, max-age=3600",
                                                                     "content-disposition": "inline"})

    def _may_see(session: Session, staff: StaffPrincipal, att: Attachment) -> bool:
        if staff.department_filter is None:
            return True
        if att.ticket_id is not None:
            visible = session.scalar(scope_tickets(select(Ticket.id).where(Ticket.id == att.ticket_id), staff))
            if visible is not None:
                return True
        if att.message_id is None:
            return False
        attention = attention_department_id(session, rt().catalog)
        stmt = (select(Conversation.id).join(Message, Message.identity_id == Conversation.identity_id)
                .where(Message.id == att.message_id, conversation_department(attention) == staff.department_filter))
        return session.scalar(stmt) is not None

    cid = "/console/inbox/{cid:int}"
    return [
        ("/console/inbox", staff_page(inbox), ["GET"]),
        (cid, staff_page(conversation_page), ["GET"]),
        (cid + "/take", action(take), ["POST"]),
        (cid + "/assign", action(assign), ["POST"]),
        (cid + "/reply", action(reply), ["POST"]),
        (cid + "/return", action(back_to_bot), ["POST"]),
        (cid + "/close", action(close), ["POST"]),
        (cid + "/report", action(create_report), ["POST"]),
        (cid + "/reveal", staff_page(reveal_endpoint), ["POST"]),
        ("/console/inbox/segments", staff_page(segments), ["POST"]),
        ("/console/media/{aid:int}", staff_page(media), ["GET"]),
    ]


def _lock(session: Session, conv: Conversation) -> None:
    session.refresh(conv, with_for_update=True)


def _coordinates(form: dict[str, str]) -> tuple[float | None, float | None]:
    lat, lon = (form.get("lat") or "").strip(), (form.get("lon") or "").strip()
    if not lat and not lon:
        return None, None
    try:
        return float(lat), float(lon)
    except ValueError:
        raise ValueError("bad_coordinates") from None


def _pretty(number: str) -> str:
    try:
        return phonenumbers.format_number(phonenumbers.parse(number, "MX"),
                                          phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return number


def _error_code(exc: Exception) -> str:
    text = str(exc)
    if text.isidentifier():
        return text
    if isinstance(exc, handoff.HandoffError):
        return "not_waiting"
    if "location" in text:
        return "location_needed"
    if "category" in text:
        return "category_needed"
    return "refused"
