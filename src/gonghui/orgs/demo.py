"""Demo data: the real Sichuan union tree down to townships (2023 divisions, china-division),
then generated enterprises' grassroots unions, workshops, teams and members.

Generation is deterministic: the same seed and scale give the same data. ID numbers are
valid (GB 11643 check digit, real county code and date of birth) and clearly synthetic:
every demo ID uses a sequence code from 900 to 999 and every demo member has source "demo".
"""

from __future__ import annotations

import csv
import datetime
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from gonghui.core.demo_steps import DemoContext, run_demo_steps
from gonghui.orgs.bulk import allocate_ids, insert_objects, insert_rows
from gonghui.orgs.identity import encrypt_id_number, id_check_char, id_number_hash, mask_id_number
from gonghui.orgs.importing import name_keys
from gonghui.orgs.models import (
    Industry,
    Member,
    MemberEvent,
    MemberEventKind,
    MemberSource,
    Org,
    OrgKind,
    Role,
    RoleKind,
)
from gonghui.orgs.services import tree_fields
from gonghui.stats.services import rebuild as rebuild_rollups

DATA_DIR = Path(__file__).resolve().parent / "data" / "china_division"
DEMO_PASSWORD = "Gonghui@2026"  # noqa: S105  (published demo accounts)


@dataclass(frozen=True)
class Scale:
    name: str
    cities: tuple[str, ...] | None  # city codes to include; None = all
    counties_per_city: int | None
    townships_per_county: int | None
    grassroots_per_township: Callable[[random.Random, str], int]
    branches_per_grassroots: tuple[int, int]
    teams_per_branch: tuple[int, int]
    members_per_unit: tuple[int, int]


def _small_grassroots(rng: random.Random, city_code: str) -> int:
    # Chengdu and Mianyang are dense so the demo cadres have plenty to see; elsewhere sparse.
    if city_code in ("5101", "5107"):
        return rng.randint(1, 3)
    return 1 if rng.random() < 0.35 else 0


SCALES = {
    "tiny": Scale("tiny", ("5101", "5107"), 2, 2, lambda rng, c: 1, (1, 1), (1, 1), (3, 4)),
    "small": Scale("small", None, None, None, _small_grassroots, (0, 2), (0, 2), (3, 12)),
    "sichuan": Scale(
        "sichuan", None, None, None, lambda rng, c: rng.randint(30, 48), (0, 3), (0, 2), (3, 9)
    ),
}

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉萍红娥玲芬燕梅鹏飞斌波宇浩凯健俊帆帅旭宁"
    "婷雪琳晨欣悦佳怡思雨涵子轩梓萱文博宏志国庆建华春梅海燕小龙德明永红晓东"
)
BRANDS = [
    "华信",
    "宏达",
    "蜀能",
    "天府",
    "锦程",
    "川融",
    "巴蜀",
    "嘉禾",
    "鑫源",
    "长城",
    "恒通",
    "富源",
    "瑞丰",
    "金沙",
    "安泰",
    "中兴",
    "联创",
    "同力",
    "新希",
    "兴业",
    "蓉欣",
    "峨眉",
    "青城",
    "岷江",
    "沱江",
    "嘉陵",
    "雅砻",
    "汇通",
    "宝成",
    "成达",
    "利民",
    "新川",
    "西部",
    "华西",
    "晨光",
    "东方",
    "红旗",
    "长征",
    "前锋",
    "永丰",
]
ENTERPRISES: dict[str, tuple[str, ...]] = {
    Industry.MANUFACTURING: (
        "机械制造有限公司",
        "电子科技有限公司",
        "汽车零部件有限公司",
        "食品有限公司",
        "化工有限公司",
        "纺织有限公司",
        "装备制造集团有限公司",
    ),
    Industry.CONSTRUCTION: ("建筑工程有限公司", "路桥建设有限公司", "建材有限公司"),
    Industry.TRANSPORT: ("物流有限公司", "运输有限公司", "公交有限公司"),
    Industry.ENERGY: ("电力有限公司", "天然气有限公司", "水务有限公司"),
    Industry.RETAIL: ("商贸有限公司", "超市连锁有限公司"),
    Industry.HOSPITALITY: ("酒店管理有限公司", "餐饮管理有限公司"),
    Industry.IT: ("软件有限公司", "网络科技有限公司"),
    Industry.FINANCE: ("农村商业银行支行", "保险代理有限公司"),
    Industry.EDUCATION: ("中学", "小学", "职业技术学校"),
    Industry.HEALTH: ("人民医院", "中医医院", "社区卫生服务中心"),
    Industry.AGRICULTURE: ("农业发展有限公司", "茶业有限公司", "农机专业合作社"),
}
INDUSTRY_WEIGHTS = (
    (Industry.MANUFACTURING, 30),
    (Industry.CONSTRUCTION, 12),
    (Industry.TRANSPORT, 8),
    (Industry.ENERGY, 5),
    (Industry.RETAIL, 12),
    (Industry.HOSPITALITY, 8),
    (Industry.IT, 5),
    (Industry.FINANCE, 4),
    (Industry.EDUCATION, 6),
    (Industry.HEALTH, 5),
    (Industry.AGRICULTURE, 5),
)
BRANCHES: dict[str, tuple[str, ...]] = {
    Industry.MANUFACTURING: ("机加车间", "装配车间", "质检车间", "动力车间", "仓储物流部"),
    Industry.CONSTRUCTION: ("第一项目部", "第二项目部", "机械设备部"),
    Industry.TRANSPORT: ("运营一分公司", "运营二分公司", "维修车间"),
    Industry.ENERGY: ("运行部", "检修车间", "营销服务部"),
    Industry.HEALTH: ("内科分会", "外科分会", "护理分会", "医技分会"),
    Industry.EDUCATION: ("教师分会", "后勤分会"),
}
DEFAULT_BRANCHES = ("第一分会", "第二分会", "机关分会")
TEAMS = ("甲班", "乙班", "丙班", "丁班", "一组", "二组", "三组")
JOBS = {
    Industry.MANUFACTURING: ("电工", "焊工", "数控车工", "钳工", "质检员", "装配工"),
    Industry.CONSTRUCTION: ("钢筋工", "架子工", "电焊工", "施工员"),
    Industry.TRANSPORT: ("驾驶员", "调度员", "汽修工"),
    Industry.HEALTH: ("护士", "医生", "药剂师"),
    Industry.EDUCATION: ("教师", "后勤"),
}
DEFAULT_JOBS = ("职员", "技术员", "管理员", "营业员")
EDUCATIONS = ("junior", "senior", "senior", "college", "college", "bachelor", "master")
BIRTH_START = datetime.date(1966, 1, 1)
BIRTH_DAYS = (datetime.date(2005, 12, 31) - BIRTH_START).days + 1  # 14,610; coprime to 7919

JOINED_START = datetime.date(2023, 11, 1)
JOINED_DAYS = (datetime.date(2026, 10, 31) - JOINED_START).days + 1

DEMO_ACCOUNTS = (
    # username, full name, role, where, note
    ("admin", "系统管理员", "superuser", None, "back office (superuser)"),
    ("sheng", "省总工会干部", RoleKind.ADMIN, "province", "provincial cadre"),
    ("chengdu", "成都市总工会干部", RoleKind.ADMIN, "city:5101", "city cadre (成都)"),
    ("mianyang", "绵阳市总工会干部", RoleKind.ADMIN, "city:5107", "city cadre (绵阳)"),
    ("jiceng", "基层工会主席", RoleKind.ADMIN, "grassroots", "grassroots cadre"),
    ("weiquan", "区总工会维权干部", RoleKind.CASE_HANDLER, "county", "case handler (county)"),
    ("caipan1", "裁判长 赵国强", RoleKind.JUDGE, "city:5101", "chief judge (成都)"),
    ("caipan2", "裁判 孙丽", RoleKind.JUDGE, "city:5101", "judge (成都)"),
    ("bianji", "编辑 周敏", RoleKind.EDITOR, "city:5101", "news editor (成都)"),
    ("zebian", "责任编辑 吴刚", RoleKind.CHIEF_EDITOR, "city:5101", "responsible editor (成都)"),
    ("zhigong", None, "worker", "worker", "worker (member)"),
)


def _read_csv(name: str) -> list[dict[str, str]]:
    with (DATA_DIR / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def county_union_name(area: str) -> str:
    return f"{area}总工会"


def township_union_name(street: str) -> str:
    return f"{street}工会"


def synthetic_id_number(county_code: str, serial: int) -> str:
    """A valid ID number, unique per (county, serial) for serials below 1,461,000."""
    birth = BIRTH_START + datetime.timedelta(days=(serial // 100 * 7919) % BIRTH_DAYS)
    first17 = f"{county_code}{birth:%Y%m%d}{900 + serial % 100}"
    return first17 + id_check_char(first17)


def _keys(name: str) -> tuple[str, str]:
    return name_keys(name)  # pinyin_keys, cached by word


class _IdBlock:
    """Hands out org ids reserved in blocks, so generated rows know their ids up front."""

    def __init__(self, size: int = 5000):
        self.size = size
        self.free: list[int] = []

    def next(self) -> int:
        if not self.free:
            self.free = allocate_ids(Org, self.size)[::-1]
        return self.free.pop()


@dataclass
class DemoSummary:
    orgs: int = 0
    members: int = 0


class DemoBuilder:
    def __init__(self, *, scale: str = "small", seed: int = 2026, province: str = "51"):
        self.scale = SCALES[scale]
        self.seed = seed
        self.rng = random.Random(f"{seed}:{scale}:{province}")
        self.province = province
        self.ids = _IdBlock()
        self.orgs: list[Org] = []
        self.members: list[dict[str, Any]] = []  # rows of Member
        self.summary = DemoSummary()
        self.county_serial: dict[str, int] = {}

    # --- building rows ------------------------------------------------------------------

    def _org(self, parent: Org | None, name: str, code: str, kind: str, **extra: Any) -> Org:
        pk = self.ids.next()
        head = parent.ancestor_ids if parent is not None else []
        full, initials = _keys(name)
        org = Org(
            pk=pk,
            parent_id=parent.pk if parent else None,
            name=name,
            code=code,
            kind=kind,
            name_pinyin=full,
            name_initials=initials,
            **tree_fields([*head, pk]),
            **extra,
        )
        self.orgs.append(org)
        return org

    def _members(self, unit: Org, county_code: str, industry: str, count: int) -> None:
        rng = self.rng
        jobs = JOBS.get(industry, DEFAULT_JOBS)
        for _ in range(count):
            serial = self.county_serial.get(county_code, 0)
            self.county_serial[county_code] = serial + 1
            id_number = synthetic_id_number(county_code, serial)
            name = rng.choice(SURNAMES) + "".join(
                rng.choice(GIVEN) for _ in range(rng.randint(1, 2))
            )
            full, initials = _keys(name)
            phone = f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
            # Joined over the last three years, so the dashboards have trends to show.
            joined = JOINED_START + datetime.timedelta(days=rng.randrange(JOINED_DAYS))
            self.members.append(
                dict(
                    unit_id=unit.pk,
                    name=name,
                    name_pinyin=full,
                    name_initials=initials,
                    gender="M" if int(id_number[16]) % 2 else "F",
                    birth_date=datetime.date(
                        int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14])
                    ),
                    id_number_cipher=encrypt_id_number(id_number),
                    id_number_hash=id_number_hash(id_number),
                    id_number_masked=mask_id_number(id_number),
                    id_number_tail=id_number[-4:],
                    phone=phone,
                    ethnicity="汉族"
                    if rng.random() < 0.94
                    else rng.choice(("彝族", "藏族", "羌族", "回族")),
                    education=rng.choice(EDUCATIONS),
                    job=rng.choice(jobs),
                    is_migrant_worker=rng.random() < 0.2,
                    joined_on=joined,
                    source=MemberSource.DEMO,
                )
            )

    def _grassroots(self, township: Org, county_code: str, place: str, seq: int) -> None:
        rng = self.rng
        industries, weights = zip(*INDUSTRY_WEIGHTS, strict=True)
        industry = rng.choices(industries, weights)[0]
        enterprise = f"{place}{rng.choice(BRANDS)}{rng.choice(ENTERPRISES[industry])}"
        code = f"{township.code}{seq:03d}"
        union = self._org(
            township,
            f"{enterprise}工会委员会",
            code,
            OrgKind.GRASSROOTS,
            industry=industry,
            division_code=township.division_code,
            address=f"{township.address}{rng.randint(1, 999)}号",
        )
        lo, hi = self.scale.members_per_unit
        self._members(union, county_code, industry, rng.randint(lo, hi))
        branch_names = BRANCHES.get(industry, DEFAULT_BRANCHES)
        for b in range(rng.randint(*self.scale.branches_per_grassroots)):
            branch = self._org(
                union,
                f"{enterprise}{branch_names[b % len(branch_names)]}",
                f"{code}B{b + 1}",
                OrgKind.BRANCH,
                industry=industry,
                division_code=township.division_code,
            )
            self._members(branch, county_code, industry, rng.randint(lo, hi))
            for t in range(rng.randint(*self.scale.teams_per_branch)):
                team = self._org(
                    branch,
                    f"{branch.name}{TEAMS[t % len(TEAMS)]}",
                    f"{code}B{b + 1}T{t + 1}",
                    OrgKind.TEAM,
                    industry=industry,
                    division_code=township.division_code,
                )
                self._members(team, county_code, industry, rng.randint(lo, hi))

    # --- writing ------------------------------------------------------------------------

    def _flush(self, force: bool = False) -> None:
        if not force and len(self.members) < 20000 and len(self.orgs) < 5000:
            return
        if self.orgs:
            insert_objects(Org, self.orgs, batch_size=2000)
            self.summary.orgs += len(self.orgs)
        if self.members:
            insert_rows(Member, self.members, batch_size=2000)
            self.summary.members += len(self.members)
        self.orgs, self.members = [], []

    def build(self, progress: Callable[[str], None] | None = None) -> DemoSummary:
        provinces = {r["code"]: r["name"] for r in _read_csv("provinces.csv")}
        cities = [r for r in _read_csv("cities.csv") if r["provinceCode"] == self.province]
        areas = [r for r in _read_csv("areas.csv") if r["provinceCode"] == self.province]
        streets = [r for r in _read_csv("streets.csv") if r["provinceCode"] == self.province]
        scale = self.scale
        if scale.cities is not None:
            cities = [c for c in cities if c["code"] in scale.cities]
        with transaction.atomic():
            name = provinces[self.province].removesuffix("省")
            root = self._org(
                None,
                f"{name}省总工会",
                self.province,
                OrgKind.PROVINCE,
                division_code=self.province,
                address=provinces[self.province],
            )
            for city in cities:
                city_org = self._org(
                    root,
                    f"{city['name']}总工会",
                    city["code"],
                    OrgKind.CITY,
                    division_code=city["code"],
                    address=f"{provinces[self.province]}{city['name']}",
                )
                city_areas = [a for a in areas if a["cityCode"] == city["code"]]
                if scale.counties_per_city is not None:
                    city_areas = city_areas[: scale.counties_per_city]
                for area in city_areas:
                    county = self._org(
                        city_org,
                        county_union_name(area["name"]),
                        area["code"],
                        OrgKind.COUNTY,
                        division_code=area["code"],
                        address=f"{city_org.address}{area['name']}",
                    )
                    place = area["name"][:-1] if len(area["name"]) > 2 else area["name"]
                    area_streets = [s for s in streets if s["areaCode"] == area["code"]]
                    if scale.townships_per_county is not None:
                        area_streets = area_streets[: scale.townships_per_county]
                    for street in area_streets:
                        township = self._org(
                            county,
                            township_union_name(street["name"]),
                            street["code"],
                            OrgKind.TOWNSHIP,
                            division_code=street["code"],
                            address=f"{county.address}{street['name']}",
                        )
                        for seq in range(
                            1, scale.grassroots_per_township(self.rng, city["code"]) + 1
                        ):
                            self._grassroots(township, area["code"], place, seq)
                        self._flush()
                if progress:
                    progress(f"{city_org.name}: {self.summary.orgs + len(self.orgs)} unions so far")
            self._flush(force=True)
            record_join_events()
            create_demo_accounts()
        # What other apps add (a notice going down the tree, ...), registered by them.
        with transaction.atomic():
            run_demo_steps(
                DemoContext(
                    root=root,
                    seed=self.seed,
                    scale=self.scale.name,
                    today=timezone.localdate(),
                    progress=progress,
                )
            )
        # The figures: computed from the facts just written, as `rebuild_rollups` does.
        rebuild_rollups(check=False)
        return self.summary


def record_join_events() -> None:
    """Every demo member joined their unit on their joining date: the facts behind the
    member figures, written in one statement."""
    from django.db import connection

    event, member = MemberEvent._meta.db_table, Member._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{event}" (member_id, unit_id, kind, day) '  # noqa: S608
            f'SELECT id, unit_id, %s, joined_on FROM "{member}" WHERE source = %s',
            [MemberEventKind.JOINED, MemberSource.DEMO],
        )


def first_grassroots_in(city_code: str) -> Org | None:
    city = Org.objects.filter(code=city_code).first()
    if city is None:
        return None
    return (
        Org.objects.filter(
            Exists(Member.objects.filter(unit=OuterRef("pk"))),
            ancestor_1=city.pk,
            kind=OrgKind.GRASSROOTS,
        )
        .order_by("path")
        .first()
    )


def _account_org(where: str) -> Org | None:
    if where == "province":
        return Org.objects.filter(parent__isnull=True).order_by("pk").first()
    if where.startswith("city:"):
        return Org.objects.filter(code=where.removeprefix("city:")).first()
    if where == "grassroots":
        return first_grassroots_in("5101")
    if where == "county":
        # The county federation above the demo grassroots union: it handles the cases
        # of workers who skip their own union.
        union = first_grassroots_in("5101")
        if union is None:
            return None
        return (
            Org.objects.filter(pk__in=union.ancestor_ids, kind=OrgKind.COUNTY)
            .order_by("-depth")
            .first()
        )
    return None


def create_demo_accounts() -> None:
    """The demo's accounts with their roles (idempotent)."""
    User = get_user_model()
    for username, full_name, role, where, _note in DEMO_ACCOUNTS:
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_password(DEMO_PASSWORD)
        if role == "superuser":
            user.is_staff = user.is_superuser = True
        if full_name:
            user.first_name = full_name
        user.save()
        if role == "worker":
            union = first_grassroots_in("5101")
            member = Member.objects.filter(unit=union).order_by("pk").first() if union else None
            if member is not None and member.user_id is None:
                member.user = user
                member.save(update_fields=["user"])
                user.first_name = member.name
                user.save(update_fields=["first_name"])
            continue
        org = _account_org(where) if where else None
        if org is not None:
            Role.objects.get_or_create(
                user=user,
                org=org,
                kind=role,
                defaults={"may_export_personal_data": where == "province"},
            )


def demo_account_lines() -> Iterator[str]:
    User = get_user_model()
    for username, _full, _role, _where, note in DEMO_ACCOUNTS:
        user = User.objects.filter(username=username).first()
        if user is None:
            continue
        place = ""
        roles = list(Role.objects.filter(user=user).select_related("org")[:1])
        if roles:
            place = roles[0].org.name
        elif hasattr(user, "member"):
            place = f"{user.member.name} @ {user.member.unit.name}"
        yield f"  {username:<10} {DEMO_PASSWORD:<14} {note:<26} {place}"
