"""荣誉证书: the certificate of a ranked entry, A4 landscape, drawn with reportlab.

Chinese text uses the built-in CID font STSong-Light (as the activities' printables do):
PDF readers supply it, so no font file ships with the app.
"""

from __future__ import annotations

import io

from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas as pdf_canvas

from gonghui.competitions.models import Award, Entry

FONT = "STSong-Light"
RED = colors.HexColor("#b8232f")
GOLD = colors.HexColor("#c8a045")
_registered = False


def _font() -> str:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _registered = True
    return FONT


def _wrap(text: str, size: float, width: float) -> list[str]:
    """Break Chinese (or mixed) text into lines that fit `width` at `size`."""
    lines, line = [], ""
    for char in text:
        if pdfmetrics.stringWidth(line + char, _font(), size) > width and line:
            lines.append(line)
            line = char
        else:
            line += char
    if line:
        lines.append(line)
    return lines


def _date(day: object) -> str:
    return f"{day:%Y年%-m月%-d日}" if day else ""


def certificate_text(entry: Entry, award: Award | None) -> str:
    """The body of the certificate in one sentence (also used by the tests)."""
    competition = entry.competition
    if award is not None:
        result = award.name
        if award.title:
            result = _("%(award)s and the title “%(title)s”") % {
                "award": award.name,
                "title": award.title,
            }
    else:
        result = _("rank %(rank)d") % {"rank": entry.rank}
    who = entry.member.name
    if entry.team_name:
        who = _("%(team)s (led by %(name)s)") % {"team": entry.team_name, "name": who}
    return _(
        "%(who)s of %(unit)s took part in %(competition)s, %(trade)s, and won %(result)s. "
        "This certificate is awarded in recognition."
    ) % {
        "who": who,
        "unit": entry.unit.name,
        "competition": competition.title,
        "trade": entry.discipline.name,
        "result": result,
    }


def certificate(entry: Entry, award: Award | None) -> bytes:
    competition = entry.competition
    buffer = io.BytesIO()
    width, height = landscape(A4)
    c = pdf_canvas.Canvas(buffer, pagesize=(width, height))
    c.setTitle(f"{_('Certificate of honour')} · {entry.member.name}")
    font = _font()
    # Frame: a red outer border and a thin gold inner one.
    c.setStrokeColor(RED)
    c.setLineWidth(6)
    c.rect(12 * mm, 12 * mm, width - 24 * mm, height - 24 * mm)
    c.setStrokeColor(GOLD)
    c.setLineWidth(1.5)
    c.rect(17 * mm, 17 * mm, width - 34 * mm, height - 34 * mm)
    # Heading.
    c.setFillColor(RED)
    c.setFont(font, 44)
    c.drawCentredString(width / 2, height - 50 * mm, _("Certificate of honour"))
    c.setFillColor(colors.black)
    # The name, large; then the body.
    c.setFont(font, 26)
    c.drawCentredString(width / 2, height - 78 * mm, entry.team_name or entry.member.name)
    c.setFont(font, 15)
    c.drawCentredString(width / 2, height - 90 * mm, entry.unit.name)
    size, left = 17, 40 * mm
    y = height - 110 * mm
    c.setFont(font, size)
    for line in _wrap("　　" + certificate_text(entry, award), size, width - 2 * left):
        c.drawString(left, y, line)
        y -= size * 1.7
    if award is not None and award.title:
        c.setFillColor(RED)
        c.setFont(font, 24)
        c.drawCentredString(width / 2, y - 8 * mm, award.title)
        c.setFillColor(colors.black)
    # Organiser and date, bottom right; the entry number, bottom left.
    c.setFont(font, 16)
    right = width - 40 * mm
    c.drawRightString(right, 45 * mm, competition.org.name)
    c.drawRightString(right, 35 * mm, _date(competition.published_on))
    c.setFont(font, 9)
    c.setFillColor(colors.grey)
    c.drawString(25 * mm, 22 * mm, _("Entry number %(number)s") % {"number": entry.number or "—"})
    c.showPage()
    c.save()
    return buffer.getvalue()
