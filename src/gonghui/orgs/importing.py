"""Importing unions and members from the Excel (.xlsx) and CSV sheets lower levels send up.

An import is all or nothing: every row is checked, and a file with any bad row imports
nothing and returns every bad row with its reasons in Chinese. Rows are read and written
in batches inside one transaction, so memory stays flat for a million members.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import queue
import threading
import time
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from pypinyin.seg.simpleseg import seg as segment_words

from gonghui.audit.models import AuditAction
from gonghui.audit.services import record
from gonghui.core.xlsx import Sheet, write_xlsx
from gonghui.orgs import figures, scoping
from gonghui.orgs.bulk import SharedConnection, allocate_ids, insert_rows
from gonghui.orgs.identity import (
    NoncePool,
    encrypt_id_number,
    id_number_hash,
    mask_id_number,
    normalise_phone,
    parse_id_number,
)
from gonghui.orgs.models import (
    ALLOWED_CHILD_KINDS,
    ANCESTOR_FIELDS,
    MAX_DEPTH,
    MEMBER_UNIT_KINDS,
    Education,
    ImportJob,
    Industry,
    Member,
    MemberSource,
    Org,
    OrgKind,
    OrgStatus,
    ancestor_field,
)
from gonghui.orgs.scoping import Perm
from gonghui.orgs.search import pinyin_keys
from gonghui.orgs.services import tree_fields

# Rows per batch handed to the writer (and per unit lookup and COPY): 5,000 made a
# million-member import faster than 2,000 in interleaved runs (fewer hand-overs between
# the two threads, fewer statements), for 40 MB more at its peak.
BATCH = 5000
ERRORS_KEPT_INLINE = 500


@lru_cache(maxsize=50_000)
def _word_keys(word: str) -> tuple[str, str]:
    return pinyin_keys(word)


@lru_cache(maxsize=200_000)
def name_keys(name: str) -> tuple[str, str]:
    """pinyin_keys(name), faster for bulk loads, where pinyin is the dearest step of a row.

    pypinyin segments a text into words and converts each word on its own, so the keys
    of a name are its words' keys joined; words (mostly single characters) repeat far
    more often than whole names do.
    """
    parts = [_word_keys(word) for word in segment_words(name)]
    return "".join(p[0] for p in parts)[:400], "".join(p[1] for p in parts)[:120]


@dataclass(frozen=True)
class Column:
    key: str
    header: str  # as printed in the template
    required: bool = False
    aliases: tuple[str, ...] = ()

    def names(self) -> set[str]:
        return {self.header, self.header.rstrip("*"), self.key, *self.aliases}


MEMBER_COLUMNS = (
    Column("name", "姓名*", True, ("姓名",)),
    Column("id_number", "身份证号*", True, ("身份证号码", "公民身份号码", "id number")),
    Column("unit_code", "单位编码*", True, ("所属单位编码", "工会编码", "unit code")),
    Column("phone", "手机号", False, ("手机", "手机号码", "联系电话")),
    Column("ethnicity", "民族"),
    Column("education", "学历", False, ("文化程度",)),
    Column("job", "岗位/工种", False, ("岗位", "工种", "职务")),
    Column("is_migrant_worker", "是否农民工", False, ("农民工",)),
    Column("joined_on", "入会日期", False, ("入会时间",)),
)

ORG_COLUMNS = (
    Column("name", "名称*", True, ("工会名称", "单位名称")),
    Column("code", "编码*", True, ("工会编码", "单位编码")),
    Column("kind", "类型*", True, ("工会类型", "层级")),
    Column("parent_code", "上级编码*", True, ("上级工会编码",)),
    Column("industry", "行业"),
    Column("address", "地址"),
    Column("division_code", "行政区划代码", False, ("区划代码",)),
)

# The words lower levels write in these columns, mapped to stored values.
KIND_WORDS = {
    "省总工会": OrgKind.PROVINCE,
    "市总工会": OrgKind.CITY,
    "市(州)总工会": OrgKind.CITY,
    "市（州）总工会": OrgKind.CITY,
    "州总工会": OrgKind.CITY,
    "县总工会": OrgKind.COUNTY,
    "县(市、区)总工会": OrgKind.COUNTY,
    "县（市、区）总工会": OrgKind.COUNTY,
    "区总工会": OrgKind.COUNTY,
    "乡镇工会": OrgKind.TOWNSHIP,
    "街道工会": OrgKind.TOWNSHIP,
    "乡镇(街道)工会": OrgKind.TOWNSHIP,
    "乡镇（街道）工会": OrgKind.TOWNSHIP,
    "产业工会": OrgKind.INDUSTRY,
    "基层工会": OrgKind.GRASSROOTS,
    "车间": OrgKind.BRANCH,
    "分会": OrgKind.BRANCH,
    "车间/分会": OrgKind.BRANCH,
    "班组": OrgKind.TEAM,
    "小组": OrgKind.TEAM,
    **{k.value: k.value for k in OrgKind},
}
INDUSTRY_WORDS = {
    "制造业": Industry.MANUFACTURING,
    "建筑业": Industry.CONSTRUCTION,
    "交通运输": Industry.TRANSPORT,
    "交通运输业": Industry.TRANSPORT,
    "能源": Industry.ENERGY,
    "采矿业": Industry.ENERGY,
    "批发零售": Industry.RETAIL,
    "批发和零售业": Industry.RETAIL,
    "住宿餐饮": Industry.HOSPITALITY,
    "住宿和餐饮业": Industry.HOSPITALITY,
    "信息技术": Industry.IT,
    "金融": Industry.FINANCE,
    "金融业": Industry.FINANCE,
    "教育": Industry.EDUCATION,
    "卫生": Industry.HEALTH,
    "医疗卫生": Industry.HEALTH,
    "农业": Industry.AGRICULTURE,
    "机关事业单位": Industry.PUBLIC,
    "其他": Industry.OTHER,
    **{k.value: k.value for k in Industry},
}
EDUCATION_WORDS = {
    "小学": Education.PRIMARY,
    "初中": Education.JUNIOR,
    "高中": Education.SENIOR,
    "中专": Education.SENIOR,
    "中技": Education.SENIOR,
    "技校": Education.SENIOR,
    "大专": Education.COLLEGE,
    "专科": Education.COLLEGE,
    "本科": Education.BACHELOR,
    "大学本科": Education.BACHELOR,
    "硕士": Education.MASTER,
    "博士": Education.MASTER,
    "研究生": Education.MASTER,
    **{k.value: k.value for k in Education if k.value},
}
YES_WORDS = {"是", "y", "yes", "true", "1", "√"}
NO_WORDS = {"否", "n", "no", "false", "0", ""}


@dataclass
class RowError:
    row: int
    values: list[str]
    reasons: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "values": self.values, "reasons": self.reasons}


@dataclass
class ImportRejected(Exception):
    """Nothing was imported. Either the file as a whole is unusable or some rows are bad."""

    file_error: str = ""
    row_errors: list[RowError] = field(default_factory=list)
    total_rows: int = 0
    headers: list[str] = field(default_factory=list)


@dataclass
class ImportOutcome:
    total_rows: int
    imported_rows: int


# --- reading ----------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value).strip()


def _sniff_encoding(head: bytes) -> str:
    """UTF-8 (with or without BOM) when the start decodes as such, else GB18030: Excel
    in China saves CSV in GBK."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8-sig"


def read_table(
    stream: IO[bytes], file_name: str
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """Headers and (spreadsheet row number, cell texts) of the first sheet of an .xlsx or a
    CSV file. Blank rows are skipped; the header is row 1."""
    suffix = Path(file_name).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        try:
            wb = load_workbook(stream, read_only=True, data_only=True)
        except Exception as exc:
            raise ImportRejected(
                file_error=_("The file is not a readable .xlsx workbook.")
            ) from exc
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        raw_header = next(rows, None)
        headers = [_text(v) for v in (raw_header or [])]

        def xlsx_rows() -> Iterator[tuple[int, list[str]]]:
            for number, values in enumerate(rows, start=2):
                texts = [_text(v) for v in values]
                if any(texts):
                    yield number, texts
            wb.close()

        return headers, xlsx_rows()
    if suffix in (".csv", ".txt"):
        head = stream.read(1 << 20)
        stream.seek(0)
        encoding = _sniff_encoding(head)
        text = io.TextIOWrapper(stream, encoding=encoding, errors="strict", newline="")
        reader = csv.reader(text)
        try:
            headers = [h.strip() for h in next(reader, [])]
        except UnicodeDecodeError as exc:
            raise ImportRejected(
                file_error=_("The CSV file is neither UTF-8 nor GBK text.")
            ) from exc

        def csv_rows() -> Iterator[tuple[int, list[str]]]:
            try:
                for number, values in enumerate(reader, start=2):
                    texts = [v.strip() for v in values]
                    if any(texts):
                        yield number, texts
            except (UnicodeDecodeError, csv.Error) as exc:
                raise ImportRejected(
                    file_error=_("The CSV file cannot be read past row %(n)d.")
                    % {"n": reader.line_num}
                ) from exc

        return headers, csv_rows()
    raise ImportRejected(file_error=_("Only .xlsx and .csv files can be imported."))


def _column_positions(headers: list[str], columns: tuple[Column, ...]) -> dict[str, int]:
    positions: dict[str, int] = {}
    normalised = [h.strip().lower() for h in headers]
    for column in columns:
        names = {n.lower() for n in column.names()}
        for index, header in enumerate(normalised):
            if header in names:
                positions[column.key] = index
                break
    missing = [c.header.rstrip("*") for c in columns if c.required and c.key not in positions]
    if missing:
        raise ImportRejected(
            file_error=_("Required columns are missing: %(cols)s. Use the template.")
            % {"cols": "、".join(missing)},
            headers=headers,
        )
    return positions


def _getter(positions: dict[str, int]) -> Callable[[list[str], str], str]:
    def get(values: list[str], key: str) -> str:
        index = positions.get(key)
        if index is None or index >= len(values):
            return ""
        return values[index]

    return get


@lru_cache(maxsize=20_000)
def _iso_date(text: str) -> datetime.date | None:
    # The common 2024-03-01; None sends anything else through the formats below.
    if len(text) == 10 and text[4] == text[7] == "-" and text.replace("-", "").isdigit():
        try:
            return datetime.date(int(text[:4]), int(text[5:7]), int(text[8:]))
        except ValueError:
            return None
    return None


def _parse_date(text: str) -> datetime.date | None:
    if not text:
        return None
    fast = _iso_date(text.split(" ")[0])
    if fast is not None:
        return fast
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日"):
        try:
            return datetime.datetime.strptime(text.split(" ")[0], fmt).date()
        except ValueError:
            continue
    raise ValidationError(_("%(value)s is not a date (write 2024-03-01).") % {"value": text})


# What an import needs to know of a unit: enough to place members and to check the
# actor's scope (`scoping.can` reads depth and the ancestor columns), and nothing more — a
# province-wide file names hundreds of thousands of units.
_UNIT_COLUMNS = ("id", "code", "name", "kind", "status", "depth", *ANCESTOR_FIELDS)
_UnitRow = namedtuple("_UnitRow", ("pk", *_UNIT_COLUMNS[1:]))  # type: ignore[misc]


class _UnitResolver:
    """Looks up units by code, a batch of rows at a time, and says why one cannot take
    members. Keeps only the id of each usable unit, so a province-wide file stays small."""

    def __init__(self, actor: Any, root: Org):
        self.actor = actor
        self.root = root
        self.cache: dict[str, int | str] = {}
        self._root_column = ancestor_field(root.depth)

    def resolve(self, code: str) -> int | str:
        """The unit's id, or the reason it cannot take members."""
        if code not in self.cache:
            self.prefetch([code])
        return self.cache[code]

    def prefetch(self, codes: Iterable[str]) -> None:
        missing = list({c for c in codes if c and c not in self.cache})
        if not missing:
            return
        found = {unit.code: unit for unit in self._units(missing)}
        for code in missing:
            self.cache[code] = self._check(code, found.get(code))

    @staticmethod
    def _units(codes: list[str]) -> list[_UnitRow]:
        if connection.vendor == "postgresql":
            # One array parameter: thousands of placeholders cost more to send than to run.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {', '.join(_UNIT_COLUMNS)} FROM {Org._meta.db_table}"  # noqa: S608
                    " WHERE code = ANY(%s)",
                    [codes],
                )
                return [_UnitRow(*row) for row in cursor.fetchall()]
        return [
            _UnitRow(*row) for row in Org.objects.filter(code__in=codes).values_list(*_UNIT_COLUMNS)
        ]

    def prefetching(
        self, rows: Iterator[tuple[int, list[str]]], get: Callable[[list[str], str], str]
    ) -> Iterator[tuple[int, list[str]]]:
        """The same rows, with the units of each batch looked up in one query."""
        while chunk := list(islice(rows, BATCH)):
            self.prefetch(get(values, "unit_code") for _, values in chunk)
            yield from chunk

    def _check(self, code: str, unit: _UnitRow | None) -> int | str:
        if (
            unit is None
            or unit.depth < self.root.depth
            or getattr(unit, self._root_column) != self.root.pk  # not in the root's subtree
            or not scoping.can(self.actor, Perm.MEMBER_CHANGE, unit)  # type: ignore[arg-type]
        ):
            return _("unknown unit code %(code)s") % {"code": code}
        if unit.kind not in MEMBER_UNIT_KINDS:
            return _(
                "%(unit)s is a %(kind)s; members belong to a grassroots union, workshop or team"
            ) % {
                "unit": unit.name,
                "kind": OrgKind(unit.kind).label,
            }
        if unit.status != OrgStatus.ACTIVE:
            return _("%(unit)s has been dissolved") % {"unit": unit.name}
        return unit.pk


# --- members ----------------------------------------------------------------------------


def import_members(*, actor: Any, root: Org, stream: IO[bytes], file_name: str) -> ImportOutcome:
    """Import members into units of `root`'s subtree. Raises ImportRejected (nothing kept)."""
    scoping.require(actor, Perm.MEMBER_CHANGE, root)
    headers, rows = read_table(stream, file_name)
    get = _getter(_column_positions(headers, MEMBER_COLUMNS))
    units = _UnitResolver(actor, root)
    seen: dict[bytes, int] = {}
    errors: list[RowError] = []
    total = 0
    today = timezone.localdate()
    nonces = NoncePool()
    with transaction.atomic(), _constraints_checked_as_written():
        writer = _MemberWriter()
        batch: list[tuple[int, list[str], dict[str, Any]]] = []
        try:
            for number, values in units.prefetching(rows, get):
                # A full batch is handed over only when the next row is wanted, i.e. after
                # the units of the next batch were looked up: that query need not wait for
                # the batch being written.
                if len(batch) >= BATCH:
                    writer.submit(batch, position=len(errors), clean=not errors)
                    batch = []
                total += 1
                reasons: list[str] = []
                name = "".join(get(values, "name").split())
                if not name:
                    reasons.append(_("name missing"))
                elif len(name) > 50:
                    reasons.append(_("name longer than 50 characters"))
                ident = None
                try:
                    ident = parse_id_number(get(values, "id_number"), today=today)
                except ValidationError as exc:
                    reasons.append(exc.messages[0])
                unit: int | str | None = None
                code = get(values, "unit_code")
                if not code:
                    reasons.append(_("unit code missing"))
                else:
                    unit = units.resolve(code)
                    if isinstance(unit, str):
                        reasons.append(unit)
                phone = ""
                try:
                    phone = normalise_phone(get(values, "phone"))
                except ValidationError as exc:
                    reasons.append(exc.messages[0])
                education = get(values, "education")
                if education and education not in EDUCATION_WORDS:
                    reasons.append(_("unknown education %(value)s") % {"value": education})
                migrant = get(values, "is_migrant_worker").lower()
                if migrant not in YES_WORDS and migrant not in NO_WORDS:
                    reasons.append(_("migrant worker must be 是 or 否"))
                joined_on = None
                try:
                    joined_on = _parse_date(get(values, "joined_on"))
                except ValidationError as exc:
                    reasons.append(exc.messages[0])
                if joined_on is not None and joined_on > today:
                    reasons.append(_("date of joining in the future"))
                elif joined_on is not None and ident is not None and joined_on < ident.birth_date:
                    reasons.append(_("date of joining before the date of birth"))
                lookup_hash = ""
                if ident is not None:
                    lookup_hash = id_number_hash(ident.value)
                    key = bytes.fromhex(lookup_hash[:32])
                    if key in seen:
                        reasons.append(
                            _("duplicate ID number, also in row %(row)d") % {"row": seen[key]}
                        )
                    else:
                        seen[key] = number
                if reasons:
                    errors.append(RowError(number, values, reasons))
                    continue
                assert ident is not None and isinstance(unit, int)
                full, initials = name_keys(name)
                joined_on = joined_on or today
                member = dict(
                    unit_id=unit,
                    name=name,
                    name_pinyin=full,
                    name_initials=initials,
                    gender=ident.gender,
                    birth_date=ident.birth_date,
                    # Once a row is bad nothing is written: skip the encryption.
                    id_number_cipher=""
                    if errors or writer.rejected
                    else encrypt_id_number(ident.value, nonce=nonces.take()),
                    id_number_hash=lookup_hash,
                    id_number_masked=mask_id_number(ident.value),
                    id_number_tail=ident.value[-4:],
                    phone=phone,
                    ethnicity=get(values, "ethnicity")[:20],
                    education=EDUCATION_WORDS.get(education, ""),
                    job=get(values, "job")[:60],
                    is_migrant_worker=migrant in YES_WORDS,
                    joined_on=joined_on,
                    source=MemberSource.IMPORT,
                )
                batch.append((number, values, member))
            if batch:
                writer.submit(batch, position=len(errors), clean=not errors)
            writer.finish()
        except BaseException:
            writer.close()
            writer.raise_error()  # the writer's own error, if any, is the one to report
            raise
        if total == 0:
            raise ImportRejected(file_error=_("The file has no data rows."), headers=headers)
        # The rows that clash with members in the database go where the old sequential
        # import listed them: after the bad rows found before their batch was handed over.
        for position, clashes in reversed(writer.clashes):
            errors[position:position] = [
                RowError(number, values, [_duplicate_reason(actor, existing)])
                for number, values, existing in clashes
            ]
        if errors:
            raise ImportRejected(row_errors=errors, total_rows=total, headers=headers)
    return ImportOutcome(total_rows=total, imported_rows=writer.imported)


_Batch = list[tuple[int, list[str], dict[str, Any]]]  # (row number, cell texts, member row)


@contextmanager
def _constraints_checked_as_written() -> Iterator[None]:
    """On PostgreSQL, check the foreign keys of the rows as each batch is copied — while
    the next batch is validated — instead of all at COMMIT, alone (Django declares them
    deferred): a million members' keys took half a minute there. Use inside the import's
    atomic block: when it fails, its rollback (to a savepoint, too) restores the previous
    mode; when it succeeds, the keys are deferred again, as Django declares every
    deferrable constraint, for whatever follows in an enclosing transaction."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


class _MemberWriter:
    """Writes the finished batches of a member import, in order: each batch is first
    checked against the members already in the database; then, as long as the file has
    no bad row, its members and their join events go in.

    On PostgreSQL a thread does this over the connection of the import's transaction
    (see bulk.SharedConnection) while the importing thread validates the next batch, so
    Python and PostgreSQL work at the same time instead of taking turns. At most three
    batches wait while another is written, so memory stays flat (a province-wide file:
    ~510 MB); with one, the validating thread stalled whenever a batch took PostgreSQL
    longer than the next took to validate. An error of the thread
    ends the import: the next submit or finish raises it, and the transaction is rolled
    back. Elsewhere (SQLite) submit writes the batch itself.
    """

    threaded = True  # on PostgreSQL; False writes on the caller's thread (tests, profiling)

    def __init__(self) -> None:
        self.imported = 0
        # (position in the import's errors, [(row number, cell texts, existing member)])
        self.clashes: list[tuple[int, list[tuple[int, list[str], Member]]]] = []
        self.rejected = False  # a row clashed with the database: nothing more is written
        self._error: BaseException | None = None
        self._stopping = False
        self._shared: SharedConnection | None = None
        self._thread: threading.Thread | None = None
        if self.threaded and connection.vendor == "postgresql":
            self._shared = SharedConnection.of(connection)
            self._queue: queue.Queue[tuple[_Batch, int, bool] | None] = queue.Queue(maxsize=3)
            self._thread = threading.Thread(
                target=self._run, name="gonghui-member-import", daemon=True
            )
            self._thread.start()

    def submit(self, batch: _Batch, *, position: int, clean: bool) -> None:
        """Check and write a batch. `position`: how many bad rows the file had so far;
        `clean`: none (a batch is written only then)."""
        self.raise_error()
        if self._thread is None:
            self._write(batch, position, clean)
        else:
            self._queue.put((batch, position, clean))  # waits while a batch is queued

    def finish(self) -> None:
        """Wait until every batch is written; raise the writer's error, if any."""
        self._join()
        self.raise_error()

    def close(self) -> None:
        """Skip the batches not yet written and wait for the one being written, so that
        nothing uses the connection any more once the caller rolls back."""
        self._stopping = True
        self._join()

    def raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            with connection.wrap_database_errors:  # psycopg's errors as Django's
                raise error

    def _join(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None and not self._stopping:
                try:
                    self._write(*item)
                except BaseException as exc:
                    self._error = exc

    def _write(self, batch: _Batch, position: int, clean: bool) -> None:
        existing = self._existing([m["id_number_hash"] for _, _, m in batch])
        clashes = [
            (number, values, existing[m["id_number_hash"]])
            for number, values, m in batch
            if m["id_number_hash"] in existing
        ]
        if clashes:
            self.clashes.append((position, clashes))
            self.rejected = True
        if not clean or self.rejected:
            return
        rows = [m for _, _, m in batch]
        # Ids up front, so the join events are written without reading back.
        for row, pk in zip(rows, allocate_ids(Member, len(rows), shared=self._shared), strict=True):
            row["id"] = pk
        insert_rows(Member, rows, batch_size=BATCH, shared=self._shared)
        figures.record_imported_joins(rows, shared=self._shared)
        self.imported += len(rows)

    def _existing(self, hashes: list[str]) -> dict[str, Member]:
        """The members already registered with these ID number hashes (with the name of
        their unit), by hash."""
        if self._shared is None:
            return {
                m.id_number_hash: m
                for m in Member.objects.filter(id_number_hash__in=hashes).select_related("unit")
            }
        # One array parameter, not one parameter per hash; no Django cursor in this thread.
        with self._shared.raw.cursor() as cursor:
            cursor.execute(
                "SELECT m.id_number_hash, m.id, m.name, m.status, m.unit_id, u.name"
                " FROM orgs_member m JOIN orgs_org u ON u.id = m.unit_id"
                " WHERE m.id_number_hash = ANY(%s)",
                [hashes],
            )
            return {
                lookup_hash: Member(
                    pk=pk,
                    name=name,
                    status=status,
                    unit=Org(pk=unit_id, name=unit_name),
                    id_number_hash=lookup_hash,
                )
                for lookup_hash, pk, name, status, unit_id, unit_name in cursor.fetchall()
            }


def _duplicate_reason(actor: Any, existing: Member) -> str:
    if Member.objects.restrict(actor, Perm.MEMBER_VIEW).filter(pk=existing.pk).exists():
        if existing.is_active:
            return _("ID number already registered: %(name)s, %(unit)s") % {
                "name": existing.name,
                "unit": existing.unit.name,
            }
        return _(
            "ID number belongs to %(name)s, who left %(unit)s; register them again by hand"
        ) % {
            "name": existing.name,
            "unit": existing.unit.name,
        }
    return _("ID number already registered in a union outside your scope")


# --- orgs -------------------------------------------------------------------------------


@dataclass
class _OrgRow:
    number: int
    values: list[str]
    name: str
    code: str
    kind: str
    parent_code: str
    industry: str
    address: str
    division_code: str
    reasons: list[str] = field(default_factory=list)
    ancestor_ids: list[int] | None = None
    pk: int | None = None


def import_orgs(*, actor: Any, root: Org, stream: IO[bytes], file_name: str) -> ImportOutcome:
    """Import unions below `root`. Parents may be existing unions in `root`'s subtree or
    rows of the same file, in any order."""
    scoping.require(actor, Perm.ORG_CHANGE, root)
    headers, rows = read_table(stream, file_name)
    get = _getter(_column_positions(headers, ORG_COLUMNS))
    parsed: list[_OrgRow] = []
    by_code: dict[str, _OrgRow] = {}
    for number, values in rows:
        kind_word = get(values, "kind")
        industry_word = get(values, "industry")
        row = _OrgRow(
            number=number,
            values=values,
            name=" ".join(get(values, "name").split()),
            code=get(values, "code"),
            kind=KIND_WORDS.get(kind_word, ""),
            parent_code=get(values, "parent_code"),
            industry=INDUSTRY_WORDS.get(industry_word, ""),
            address=get(values, "address")[:200],
            division_code=get(values, "division_code")[:12],
        )
        if not row.name:
            row.reasons.append(_("name missing"))
        elif len(row.name) > 120:
            row.reasons.append(_("name longer than 120 characters"))
        if not row.code:
            row.reasons.append(_("code missing"))
        elif len(row.code) > 32:
            row.reasons.append(_("code longer than 32 characters"))
        elif row.code in by_code:
            row.reasons.append(
                _("duplicate code %(code)s, also in row %(row)d")
                % {"code": row.code, "row": by_code[row.code].number}
            )
        else:
            by_code[row.code] = row
        if not kind_word:
            row.reasons.append(_("kind missing"))
        elif not row.kind:
            row.reasons.append(_("unknown kind %(value)s") % {"value": kind_word})
        if industry_word and not row.industry:
            row.reasons.append(_("unknown industry %(value)s") % {"value": industry_word})
        if not row.parent_code:
            row.reasons.append(_("parent code missing"))
        parsed.append(row)
    if not parsed:
        raise ImportRejected(file_error=_("The file has no data rows."), headers=headers)

    with transaction.atomic():
        existing_codes = set(
            Org.objects.filter(code__in=list(by_code)).values_list("code", flat=True)
        )
        for code in existing_codes:
            by_code[code].reasons.append(_("code %(code)s is already used") % {"code": code})
        parents = {
            o.code: o
            for o in Org.objects.filter(
                code__in={r.parent_code for r in parsed if r.parent_code not in by_code}
            )
        }
        depth_of: dict[str, int] = {}
        tried: set[int] = set()  # row numbers, placed or not

        def place_one(row: _OrgRow) -> None:
            """Place a row whose parent row in the file, if any, has been tried already."""
            if not row.parent_code:
                return  # "parent code missing" is on the row already
            parent_row = by_code.get(row.parent_code)
            if parent_row is not None:
                if parent_row.code not in depth_of:
                    if not row.reasons:
                        row.reasons.append(
                            _("its parent in row %(row)d cannot be imported")
                            % {"row": parent_row.number}
                        )
                    return
                parent_depth = depth_of[parent_row.code]
                parent_kind = parent_row.kind
            else:
                parent = parents.get(row.parent_code)
                if (
                    parent is None
                    or not parent.is_descendant_of(root)
                    or not scoping.can(actor, Perm.ORG_CHANGE, parent)
                ):
                    row.reasons.append(
                        _("unknown parent code %(code)s") % {"code": row.parent_code}
                    )
                    return
                if not parent.is_active:
                    row.reasons.append(_("%(unit)s has been dissolved") % {"unit": parent.name})
                    return
                parent_depth = parent.depth
                parent_kind = parent.kind
            if row.kind and row.kind not in ALLOWED_CHILD_KINDS[parent_kind]:
                row.reasons.append(
                    _("a %(kind)s cannot be placed under a %(parent_kind)s")
                    % {"kind": OrgKind(row.kind).label, "parent_kind": OrgKind(parent_kind).label}
                )
                return
            if parent_depth + 1 >= MAX_DEPTH:
                row.reasons.append(
                    _("the tree would be deeper than %(n)d levels") % {"n": MAX_DEPTH}
                )
                return
            if not row.reasons:
                depth_of[row.code] = parent_depth + 1

        def place(row: _OrgRow) -> None:
            """Place the row after its ancestors in the file. The chain of parents is walked
            without recursion and each row is tried once, so a long chain or loop of rows
            gets its reasons (once each) instead of a RecursionError."""
            chain: list[_OrgRow] = []
            on_chain: dict[int, int] = {}
            current: _OrgRow | None = row
            while current is not None and current.number not in tried:
                if current.number in on_chain:
                    loop_start = on_chain[current.number]
                    for looped in chain[loop_start:]:
                        looped.reasons.append(_("the parent codes form a loop"))
                        tried.add(looped.number)
                    del chain[loop_start:]
                    break
                on_chain[current.number] = len(chain)
                chain.append(current)
                current = by_code.get(current.parent_code)
            for link in reversed(chain):
                place_one(link)
                tried.add(link.number)

        for row in parsed:
            if row.parent_code and row.code:
                place(row)
        errors = [RowError(r.number, r.values, r.reasons) for r in parsed if r.reasons]
        if errors:
            raise ImportRejected(row_errors=errors, total_rows=len(parsed), headers=headers)
        parsed.sort(key=lambda r: depth_of[r.code])  # parents before their children
        for row, pk in zip(parsed, allocate_ids(Org, len(parsed)), strict=True):
            row.pk = pk
            parent_row = by_code.get(row.parent_code)
            head = parent_row.ancestor_ids if parent_row else parents[row.parent_code].ancestor_ids
            assert head is not None
            row.ancestor_ids = [*head, pk]
        new_orgs = []
        for row in parsed:
            full, initials = pinyin_keys(row.name)
            assert row.ancestor_ids is not None
            new_orgs.append(
                Org(
                    pk=row.pk,
                    parent_id=row.ancestor_ids[-2],
                    name=row.name,
                    code=row.code,
                    kind=row.kind,
                    industry=row.industry,
                    address=row.address,
                    division_code=row.division_code,
                    name_pinyin=full,
                    name_initials=initials,
                    **tree_fields(row.ancestor_ids),
                )
            )
        Org.objects.bulk_create(new_orgs, batch_size=BATCH)
        figures.record_orgs_created(new_orgs)
    return ImportOutcome(total_rows=len(parsed), imported_rows=len(parsed))


# --- running an import and keeping its outcome --------------------------------------------


def _error_sheet(rejected: ImportRejected) -> Sheet:
    width = max([len(rejected.headers), *(len(e.values) for e in rejected.row_errors)])
    headers = [_("Row"), *rejected.headers, *[""] * (width - len(rejected.headers)), _("Reasons")]
    rows = (
        [e.row, *e.values, *[""] * (width - len(e.values)), "；".join(e.reasons)]
        for e in rejected.row_errors
    )
    return Sheet(title=_("Errors"), headers=headers, rows=rows)


def run_import(
    *, actor: Any, org: Org, kind: str, upload: Any, file_name: str | None = None
) -> ImportJob:
    """Import an uploaded file (or any binary stream) and record the outcome as an ImportJob.

    The job is written after the import's own transaction, so a rejected file leaves its
    reasons behind while none of its rows."""
    name = file_name or getattr(upload, "name", "upload")
    job = ImportJob(
        kind=kind, org=org, user=scoping.as_user(actor), file_name=Path(name).name[:200]
    )
    started = time.monotonic()
    size = getattr(upload, "size", None)
    importer = import_members if kind == ImportJob.Kind.MEMBERS else import_orgs
    try:
        if size is not None and size > settings.GONGHUI_IMPORT_MAX_BYTES:
            raise ImportRejected(
                file_error=_("The file is larger than %(mb)d MB.")
                % {"mb": settings.GONGHUI_IMPORT_MAX_BYTES // (1024 * 1024)}
            )
        outcome = importer(actor=actor, root=org, stream=upload, file_name=name)
    except ImportRejected as rejected:
        job.succeeded = False
        job.total_rows = rejected.total_rows
        job.error_count = len(rejected.row_errors) or 1
        job.file_error = rejected.file_error[:300]
        job.errors = [e.as_dict() for e in rejected.row_errors[:ERRORS_KEPT_INLINE]]
        job.duration_ms = int((time.monotonic() - started) * 1000)
        job.save()
        if rejected.row_errors:
            buffer = io.BytesIO()
            write_xlsx(_error_sheet(rejected), buffer)
            job.errors_file.save(f"import-{job.pk}-errors.xlsx", ContentFile(buffer.getvalue()))
        return job
    job.succeeded = True
    job.total_rows = outcome.total_rows
    job.imported_rows = outcome.imported_rows
    job.duration_ms = int((time.monotonic() - started) * 1000)
    job.save()
    record(
        actor=actor,
        action=AuditAction.IMPORT,
        target=job,
        org=org,
        summary=_("%(n)d %(kind)s imported from %(file)s")
        % {"n": outcome.imported_rows, "kind": job.get_kind_display(), "file": job.file_name},
    )
    return job


def template_sheet(kind: str) -> Sheet:
    """The fixed template lower levels fill in, with one example row and the rules."""
    if kind == ImportJob.Kind.MEMBERS:
        return Sheet(
            title="会员",
            headers=[c.header for c in MEMBER_COLUMNS],
            rows=[
                [
                    "张三",
                    "510104199003070023",
                    "GH5101040001",
                    "13800001234",
                    "汉族",
                    "高中",
                    "电工",
                    "否",
                    "2024-03-01",
                ]
            ],
            notes=[
                (
                    "说明",
                    [
                        "带 * 的列必须填写；列名不可修改。",
                        "身份证号：18 位，末位可为 X，校验位必须正确。",
                        "单位编码：会员所在的基层工会、车间或班组的编码，须在本单位范围内。",
                        "学历：小学、初中、高中、中专、大专、本科、硕士、博士。",
                        "是否农民工：是 或 否。日期格式：2024-03-01。",
                        "有任何一行出错时整份文件都不导入，并列出每一行的错误原因。",
                    ],
                )
            ],
        )
    return Sheet(
        title="工会组织",
        headers=[c.header for c in ORG_COLUMNS],
        rows=[
            [
                "成都某某机械有限公司工会",
                "GH-EXAMPLE-1",
                "基层工会",
                "上级工会的编码",
                "制造业",
                "成都市锦江区",
                "",
            ]
        ],
        notes=[
            (
                "说明",
                [
                    "带 * 的列必须填写；列名不可修改。",
                    "类型：市总工会、县总工会、乡镇(街道)工会、产业工会、基层工会、车间/分会、班组。",
                    "上级编码：已有工会的编码，或本文件中另一行的编码（顺序不限）。",
                    "有任何一行出错时整份文件都不导入，并列出每一行的错误原因。",
                ],
            )
        ],
    )
