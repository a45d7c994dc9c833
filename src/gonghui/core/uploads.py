"""Checking uploaded files: an allowed type, a size limit, and first bytes that match the
extension (a renamed program is not a photo). Used by every app that accepts files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# Extension -> content type served back.
IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
DOCUMENT_TYPES = {
    ".pdf": "application/pdf",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
VIDEO_TYPES = {".mp4": "video/mp4"}

# What a file of each type starts with.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    ".pdf": (b"%PDF",),
    ".doc": (b"\xd0\xcf\x11\xe0",),
    ".docx": (b"PK\x03\x04",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".png": (b"\x89PNG",),
}


def _matches(suffix: str, head: bytes) -> bool:
    if suffix == ".mp4":
        # ISO base media: a box size, then "ftyp".
        return head[4:8] == b"ftyp"
    return any(head.startswith(sig) for sig in SIGNATURES.get(suffix, (b"",)))


def check_upload(upload: Any, *, allowed: dict[str, str], max_bytes: int) -> tuple[str, str]:
    """(file name, content type) of an accepted upload; raises ValidationError with a
    Chinese message (through gettext) and a code: file_type, file_size, file_content."""
    name = Path(getattr(upload, "name", "") or "file").name[:200]
    suffix = Path(name).suffix.lower()
    if suffix not in allowed:
        raise ValidationError(
            _("%(name)s: only these file types are accepted: %(types)s.")
            % {"name": name, "types": ", ".join(sorted({s[1:] for s in allowed}))},
            code="file_type",
        )
    size = getattr(upload, "size", 0) or 0
    if size > max_bytes:
        raise ValidationError(
            _("%(name)s is larger than %(mb)d MB.")
            % {"name": name, "mb": max_bytes // (1024 * 1024)},
            code="file_size",
        )
    if size == 0:
        raise ValidationError(_("%(name)s is empty.") % {"name": name}, code="file_size")
    head = upload.read(12)
    upload.seek(0)
    if not _matches(suffix, head):
        raise ValidationError(
            _("%(name)s is not really a %(type)s file.") % {"name": name, "type": suffix[1:]},
            code="file_content",
        )
    return name, allowed[suffix]
