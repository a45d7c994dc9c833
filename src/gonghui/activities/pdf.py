"""Printable PDFs of an activity: the sign-in sheet (签到表) and the QR poster.

Chinese text uses reportlab's built-in CID font STSong-Light, which PDF readers supply
themselves, so no font file ships with the app and the files stay small.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

import segno
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas as pdf_canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from gonghui.activities.models import Activity

FONT = "STSong-Light"
_registered = False


def _font() -> str:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _registered = True
    return FONT


def when_text(activity: Activity) -> str:
    starts = timezone.localtime(activity.starts_at)
    ends = timezone.localtime(activity.ends_at)
    if starts.date() == ends.date():
        return f"{starts:%Y-%m-%d %H:%M} – {ends:%H:%M}"
    return f"{starts:%Y-%m-%d %H:%M} – {ends:%Y-%m-%d %H:%M}"


def where_text(activity: Activity) -> str:
    venue = activity.venue_org.name
    return f"{venue} · {activity.place}" if activity.place else venue


def _styles() -> dict[str, ParagraphStyle]:
    font = _font()
    return {
        "title": ParagraphStyle("title", fontName=font, fontSize=18, leading=24, alignment=1),
        "meta": ParagraphStyle("meta", fontName=font, fontSize=11, leading=16, alignment=1),
        "cell": ParagraphStyle("cell", fontName=font, fontSize=10.5, leading=13),
        "big": ParagraphStyle("big", fontName=font, fontSize=28, leading=36, alignment=1),
        "text": ParagraphStyle("text", fontName=font, fontSize=14, leading=22, alignment=1),
    }


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sign_in_sheet(activity: Activity, members: Iterable[Any], *, truncated: bool = False) -> bytes:
    """签到表: title, time, place, then one numbered row per audience member with a column
    to sign; the header row repeats on every page, and pages are numbered."""
    styles = _styles()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=18 * mm,
        title=f"{activity.title} · {_('Sign-in sheet')}",
    )
    story: list[Flowable] = [
        Paragraph(_escape(activity.title), styles["title"]),
        Paragraph(_escape(_("Sign-in sheet")), styles["meta"]),
        Spacer(0, 2 * mm),
        Paragraph(_escape(f"{_('Time')}：{when_text(activity)}"), styles["meta"]),
        Paragraph(_escape(f"{_('Place')}：{where_text(activity)}"), styles["meta"]),
        Spacer(0, 5 * mm),
    ]
    rows: list[list[Any]] = [[_("No."), pgettext("person", "Name"), _("Unit"), _("Signature")]]
    for number, member in enumerate(members, start=1):
        rows.append(
            [
                str(number),
                Paragraph(_escape(member.name), styles["cell"]),
                Paragraph(_escape(member.unit.name), styles["cell"]),
                "",
            ]
        )
    if len(rows) == 1:
        rows.append(["", "", "", ""])
    table = Table(rows, colWidths=[14 * mm, 36 * mm, 80 * mm, 50 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), _font(), 10.5),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f0f0f0")),
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("ALIGN", (0, 0), (0, -1), "CENTER"),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white]),
                ("TOPPADDING", (0, 1), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 1), (-1, -1), 6),
            ]
        )
    )
    story.append(table)
    if truncated:
        story += [
            Spacer(0, 4 * mm),
            Paragraph(
                _escape(_("The audience is larger than one sheet can list; print it per unit.")),
                styles["cell"],
            ),
        ]

    def number_pages(canvas: pdf_canvas.Canvas, document: Any) -> None:
        canvas.saveState()
        canvas.setFont(_font(), 9)
        canvas.drawCentredString(
            A4[0] / 2,
            10 * mm,
            _("%(title)s · page %(n)d") % {"title": activity.title, "n": document.page},
        )
        canvas.restoreState()

    doc.build(story, onFirstPage=number_pages, onLaterPages=number_pages)
    return buffer.getvalue()


class QRFlowable(Flowable):
    """A QR code drawn as vector squares (sharp at any print size)."""

    def __init__(self, data: str, size: float) -> None:
        super().__init__()
        self.qr = segno.make(data, error="m")
        self.size = size
        self.width = self.height = size

    def draw(self) -> None:
        matrix = [list(row) for row in self.qr.matrix_iter(scale=1, border=2)]
        cells = len(matrix)
        step = self.size / cells
        canvas = self.canv
        canvas.setFillColor(colors.black)
        for y, row in enumerate(matrix):
            for x, dark in enumerate(row):
                if dark:
                    canvas.rect(x * step, self.size - (y + 1) * step, step, step, stroke=0, fill=1)


def poster(activity: Activity, url: str) -> bytes:
    """A poster for the notice board: title, time, place, a QR code of the activity's page
    for workers (register, enter the check-in code) and how to check in."""
    styles = _styles()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=25 * mm,
        bottomMargin=20 * mm,
        title=activity.title,
    )
    qr = QRFlowable(url, 95 * mm)
    qr.hAlign = "CENTER"
    lines = [
        _("Scan the code with your phone to see the activity and register."),
        _("At the activity, scan the code on the screen or enter the 6-digit check-in code."),
    ]
    story: list[Flowable] = [
        Paragraph(_escape(activity.get_kind_display()), styles["text"]),
        Spacer(0, 3 * mm),
        Paragraph(_escape(activity.title), styles["big"]),
        Spacer(0, 6 * mm),
        Paragraph(_escape(f"{_('Time')}：{when_text(activity)}"), styles["text"]),
        Paragraph(_escape(f"{_('Place')}：{where_text(activity)}"), styles["text"]),
    ]
    if activity.speaker:
        story.append(Paragraph(_escape(f"{_('Speaker')}：{activity.speaker}"), styles["text"]))
    story += [Spacer(0, 10 * mm), qr, Spacer(0, 8 * mm)]
    story += [Paragraph(_escape(line), styles["text"]) for line in lines]
    story += [
        Spacer(0, 6 * mm),
        Paragraph(_escape(activity.org.name), styles["meta"]),
    ]
    doc.build(story)
    return buffer.getvalue()
