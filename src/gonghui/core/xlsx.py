"""Excel sheets: writing any table a cadre may see, streamed, with Chinese headers."""

from __future__ import annotations

import datetime
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import FileResponse
from django.utils.functional import Promise
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class Sheet:
    title: str
    headers: Sequence[str]
    rows: Iterable[Sequence[Any]]
    # Extra sheets, e.g. instructions for an import template.
    notes: list[tuple[str, list[str]]] = field(default_factory=list)


def _cell_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    if value is None:
        return ""
    if isinstance(value, Promise):  # lazily translated labels
        return str(value)
    return value


# Text starting with these would be read as a formula by Excel (CSV/formula injection),
# in cells and in headers alike (an import's error sheet repeats the uploaded headers).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _safe_value(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        return "'" + value
    return _cell_value(value)


def write_xlsx(sheet: Sheet, target: Any) -> None:
    """Write `sheet` to a path or binary file, row by row (constant memory)."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet.title[:31])
    bold = Font(bold=True)
    header_cells = []
    for text in sheet.headers:
        cell = WriteOnlyCell(ws, value=_safe_value(str(text)))
        cell.font = bold
        header_cells.append(cell)
    ws.append(header_cells)
    for row in sheet.rows:
        ws.append([_safe_value(v) for v in row])
    for title, lines in sheet.notes:
        notes = wb.create_sheet(title[:31])
        for line in lines:
            notes.append([line])
    wb.save(target)


def xlsx_response(sheet: Sheet, filename: str) -> FileResponse:
    handle = tempfile.TemporaryFile()  # noqa: SIM115  (closed by the response)
    write_xlsx(sheet, handle)
    handle.seek(0)
    return FileResponse(handle, as_attachment=True, filename=filename, content_type=XLSX_TYPE)
