"""The demo's study content: 四川省总工会 publishes articles on the Trade Union Law and on
studying the plenary session's spirit, and a video link; a course made of them, linked to
the demo notice's study requirement (组织工会干部和会员职工集中学习) when the notice step
ran; a bank of 40 questions; and a knowledge contest (工会法知识竞赛) open for a month,
linked to the same requirement.

Members of a few grassroots unions per city studied the course over the days since the
notice came, some to the end, some part of the way, and some took the contest; it all
goes through `learning.services` with the clock set to its moment, so completions,
learners, passes and points flow into the roll-ups as they do in use, and
`rebuild_rollups --check` agrees. The openings of the course's materials are written in
bulk with their moments (the reading clock starts at the opening: the server measures
from it). The demo worker (account `zhigong`) is half-way through the course and has the
contest still to take. Which members and when are drawn from the demo's seed.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

from django.contrib.auth import get_user_model
from django.utils import timezone

from gonghui.core.demo_steps import DemoContext
from gonghui.learning import services
from gonghui.learning.models import (
    Course,
    CourseItem,
    Difficulty,
    ItemProgress,
    Material,
    MaterialKind,
    PointsEntry,
    Question,
    QuestionKind,
    Quiz,
)
from gonghui.orgs.models import Member, MemberStatus, Org, OrgKind, OrgStatus
from gonghui.orgs.scoping import SYSTEM


@dataclass(frozen=True)
class Plan:
    unions_per_city: int
    max_unions: int
    learners_per_union: int  # members who open the course, at most
    contestants_per_union: int  # members who take the contest, at most


PLANS = {
    "tiny": Plan(unions_per_city=4, max_unions=8, learners_per_union=6, contestants_per_union=4),
    "small": Plan(unions_per_city=2, max_unions=24, learners_per_union=8, contestants_per_union=5),
    "sichuan": Plan(
        unions_per_city=2, max_unions=48, learners_per_union=8, contestants_per_union=5
    ),
}

COURSE_TITLE = "学习贯彻工会法和全会精神专题课程"
QUIZ_TITLE = "工会法知识竞赛"
PROXY_USERNAME = "demo-quiz-proxy"

ARTICLES = (
    (
        "学习贯彻工会法 依法维护职工合法权益",
        ["工会法"],
        """\
<p>《中华人民共和国工会法》于1992年颁布，历经2001年、2009年和2021年三次修正，是工会依法\
履职、职工依法参加和组织工会的基本遵循。</p>
<h3>一、工会的性质和基本职责</h3>
<p>工会是中国共产党领导的职工自愿结合的工人阶级群众组织，是党联系职工群众的桥梁和纽带。\
维护职工合法权益、竭诚服务职工群众，是工会的基本职责。</p>
<h3>二、职工依法参加和组织工会的权利</h3>
<p>在中国境内的企业、事业单位、机关、社会组织中以工资收入为主要生活来源的劳动者，不分民族、\
种族、性别、职业、宗教信仰、教育程度，都有依法参加和组织工会的权利。2021年修正后的工会法\
明确，工会适应企业组织形式、职工队伍结构、劳动关系、就业形态等方面的发展变化，依法维护\
劳动者参加和组织工会的权利。</p>
<h3>三、基层工会的建立</h3>
<p>企业、事业单位、社会组织，有会员二十五人以上的，应当建立基层工会委员会；不足二十五人的，\
可以单独建立基层工会委员会，也可以由两个以上单位的会员联合建立基层工会委员会，也可以选举\
组织员一人，组织会员开展活动。</p>
<h3>四、学以致用</h3>
<p>各级工会要把学习宣传工会法与服务职工结合起来，在劳动合同、集体协商、劳动安全卫生、\
困难帮扶等方面当好职工的“娘家人”。</p>
""",
        90,
    ),
    (
        "深入学习贯彻全会精神 凝聚职工奋进力量",
        ["全会精神"],
        """\
<p>学习宣传贯彻全会精神，是当前和今后一个时期工会的重要政治任务。各级工会要坚持学思用\
贯通、知信行统一，把全会精神传达到广大职工群众中去。</p>
<h3>一、原原本本学</h3>
<p>通过中心组学习、专题培训班、“职工书屋”和网上学习平台，组织工会干部和会员职工集中学习，\
做到学懂弄通做实。</p>
<h3>二、分众分类讲</h3>
<p>组建劳模工匠宣讲团和职工宣讲员队伍，采取集中宣讲、分众化宣讲、“微宣讲”等方式，推动\
宣讲进企业、进车间、进班组，让职工听得懂、记得住、用得上。</p>
<h3>三、立足岗位干</h3>
<p>把学习成效转化为建功立业的实际行动，广泛开展劳动和技能竞赛，大力弘扬劳模精神、劳动精神、\
工匠精神，用心用情为职工办实事、解难题。</p>
""",
        60,
    ),
    (
        "工会会员的权利和义务",
        ["工会章程"],
        """\
<p>根据《中国工会章程》，会员享有以下权利：选举权、被选举权和表决权；对工会工作进行监督，\
提出意见和建议，要求撤换或者罢免不称职的工会工作人员；对国家和社会生活问题及本单位工作\
提出批评与建议，要求工会组织向有关方面如实反映；在合法权益受到侵犯时，要求工会给予保护；\
工会提供的文化、教育、体育、旅游、疗休养、互助保障、法律服务、就业服务等优惠待遇；\
在工会会议和工会媒体上，参加关于工会工作和职工关心问题的讨论。</p>
<p>会员应当履行以下义务：学习政治、经济、文化、法律、技术和工会基本知识；积极参加民主管理，\
努力完成生产和工作任务；遵守宪法和法律，践行社会主义核心价值观；维护中国工人阶级和工会\
组织的团结统一；遵守工会章程，执行工会决议，参加工会活动，按月交纳会费；\
职工之间互相关心、互相帮助。</p>
""",
        60,
    ),
)
VIDEO = (
    "劳模工匠访谈：弘扬劳模精神、劳动精神、工匠精神",
    ["劳模精神"],
    "https://video.example.com/gonghui/model-workers-interview",
)

# (kind, text, options, answer, explanation, tag, difficulty): answer as option indexes
# (true/false: 0 正确, 1 错误) or the accepted texts of a fill-in.
QUESTIONS: tuple[tuple[str, str, list[str], list[Any], str, str, int], ...] = (
    (
        "single",
        "《中华人民共和国工会法》是哪一年颁布的？",
        ["1992年", "2001年", "2009年", "2021年"],
        [0],
        "工会法于1992年颁布，2001年、2009年、2021年三次修正。",
        "工会法",
        1,
    ),
    (
        "single",
        "工会是中国共产党领导的职工自愿结合的什么组织？",
        ["工人阶级群众组织", "行业协会", "企业管理机构", "社会团体中的慈善组织"],
        [0],
        "工会法第二条。",
        "工会法",
        1,
    ),
    (
        "single",
        "工会的基本职责是什么？",
        ["维护职工合法权益、竭诚服务职工群众", "组织文体活动", "管理企业生产", "发放职工工资"],
        [0],
        "工会法第六条：维护职工合法权益、竭诚服务职工群众是工会的基本职责。",
        "工会法",
        1,
    ),
    (
        "single",
        "企业有会员多少人以上的，应当建立基层工会委员会？",
        ["十人", "二十五人", "五十人", "一百人"],
        [1],
        "工会法第十一条：会员二十五人以上的，应当建立基层工会委员会。",
        "工会法",
        2,
    ),
    (
        "single",
        "建立工会组织的用人单位，按每月全部职工工资总额的多少向工会拨缴经费？",
        ["百分之一", "百分之二", "百分之三", "百分之五"],
        [1],
        "工会法第四十三条。",
        "工会法",
        2,
    ),
    (
        "single",
        "工会各级组织按照什么原则建立？",
        ["民主集中制", "行政隶属", "自由组合", "按行业划分"],
        [0],
        "工会法第九条。",
        "工会法",
        2,
    ),
    (
        "single",
        "基层工会非专职委员占用生产或者工作时间从事工会工作，每月不超过几个工作日，其工资照发？",
        ["一个", "两个", "三个", "五个"],
        [2],
        "工会法第四十一条。",
        "工会法",
        3,
    ),
    (
        "multiple",
        "依照工会法，下列哪些劳动者有依法参加和组织工会的权利？",
        ["企业职工", "事业单位职工", "机关中以工资收入为主要生活来源的劳动者", "社会组织职工"],
        [0, 1, 2, 3],
        "工会法第三条。",
        "工会法",
        2,
    ),
    (
        "multiple",
        "工会经费的来源包括哪些？",
        [
            "会员缴纳的会费",
            "用人单位拨缴的经费",
            "人民政府的补助",
            "工会所属企业、事业单位上缴的收入",
        ],
        [0, 1, 2, 3],
        "工会法第四十三条。",
        "工会法",
        3,
    ),
    (
        "truefalse",
        "全国建立统一的中华全国总工会。",
        [],
        [0],
        "工会法第十条。",
        "工会法",
        1,
    ),
    (
        "truefalse",
        "用人单位单方面解除职工劳动合同时，无须事先将理由通知工会。",
        [],
        [1],
        "工会法第二十二条：应当事先将理由通知工会。",
        "工会法",
        2,
    ),
    (
        "truefalse",
        "工会主席、副主席任期未满时，不得随意调动其工作。",
        [],
        [0],
        "工会法第十八条。",
        "工会法",
        2,
    ),
    (
        "fill",
        "维护职工合法权益、竭诚服务职工群众是工会的____职责。",
        [],
        ["基本"],
        "工会法第六条。",
        "工会法",
        1,
    ),
    (
        "fill",
        "工会法经过2001年、2009年和____年三次修正。",
        [],
        ["2021", "2021年"],
        "最近一次修正在2021年。",
        "工会法",
        2,
    ),
    (
        "single",
        "中华全国总工会成立于哪一年？",
        ["1921年", "1925年", "1949年", "1953年"],
        [1],
        "1925年5月1日，第二次全国劳动大会在广州召开，成立中华全国总工会。",
        "工会章程",
        2,
    ),
    (
        "single",
        "会员每月按本人工资收入的多少交纳会费？",
        ["百分之零点五", "百分之一", "百分之二", "百分之五"],
        [0],
        "会员按月交纳会费，标准为本人工资收入的百分之零点五。",
        "工会章程",
        2,
    ),
    (
        "multiple",
        "工会会员享有哪些权利？",
        [
            "选举权、被选举权和表决权",
            "对工会工作进行监督",
            "合法权益受到侵犯时要求工会给予保护",
            "不参加民主管理",
        ],
        [0, 1, 2],
        "见《中国工会章程》第三条。",
        "工会章程",
        2,
    ),
    (
        "truefalse",
        "按月交纳会费是工会会员的义务之一。",
        [],
        [0],
        "见《中国工会章程》第四条。",
        "工会章程",
        1,
    ),
    (
        "truefalse",
        "职工代表大会是企业事业单位实行民主管理的基本形式。",
        [],
        [0],
        "工会组织职工依法参与企业事业单位的民主管理和民主监督。",
        "工会章程",
        2,
    ),
    (
        "fill",
        "工会是党联系职工群众的桥梁和____。",
        [],
        ["纽带"],
        "",
        "工会章程",
        1,
    ),
    (
        "single",
        "国家实行劳动者每日工作时间不超过几小时的工时制度？",
        ["六小时", "八小时", "十小时", "十二小时"],
        [1],
        "劳动法第三十六条：每日工作时间不超过八小时、平均每周工作时间不超过四十四小时。",
        "劳动法律",
        1,
    ),
    (
        "single",
        "劳动合同期限三个月以上不满一年的，试用期不得超过多长时间？",
        ["一个月", "二个月", "三个月", "六个月"],
        [0],
        "劳动合同法第十九条。",
        "劳动法律",
        2,
    ),
    (
        "single",
        "劳动争议申请仲裁的时效期间为多长？",
        ["六个月", "一年", "二年", "三年"],
        [1],
        "劳动争议调解仲裁法第二十七条。",
        "劳动法律",
        2,
    ),
    (
        "single",
        "职工累计工作已满1年不满10年的，每年可享受带薪年休假几天？",
        ["3天", "5天", "10天", "15天"],
        [1],
        "《职工带薪年休假条例》第三条。",
        "劳动法律",
        2,
    ),
    (
        "single",
        "女职工生育享受多少天产假（不含难产、多胞胎等增加的天数）？",
        ["60天", "90天", "98天", "128天"],
        [2],
        "《女职工劳动保护特别规定》第七条。",
        "劳动法律",
        2,
    ),
    (
        "single",
        "用人单位自用工之日起超过一个月不满一年未与劳动者订立书面劳动合同的，应当每月支付几倍工资？",
        ["一倍", "二倍", "三倍", "不需支付"],
        [1],
        "劳动合同法第八十二条。",
        "劳动法律",
        3,
    ),
    (
        "multiple",
        "下列哪些属于劳动者依法享有的权利？",
        ["平等就业和选择职业", "取得劳动报酬", "休息休假", "获得劳动安全卫生保护"],
        [0, 1, 2, 3],
        "劳动法第三条。",
        "劳动法律",
        1,
    ),
    (
        "truefalse",
        "集体合同草案应当提交职工代表大会或者全体职工讨论通过。",
        [],
        [0],
        "劳动合同法第五十一条。",
        "劳动法律",
        2,
    ),
    (
        "truefalse",
        "用人单位可以以试用期为由不为劳动者缴纳社会保险。",
        [],
        [1],
        "试用期包含在劳动合同期限内，用人单位应当依法缴纳社会保险。",
        "劳动法律",
        2,
    ),
    (
        "fill",
        "国家实行劳动者平均每周工作时间不超过____小时的工时制度。",
        [],
        ["四十四", "44"],
        "劳动法第三十六条。",
        "劳动法律",
        2,
    ),
    (
        "single",
        "安全生产工作坚持的方针是？",
        ["安全第一、预防为主、综合治理", "效益优先、兼顾安全", "先生产后安全", "谁主管谁负责"],
        [0],
        "安全生产法第三条。",
        "安全生产",
        1,
    ),
    (
        "truefalse",
        "从业人员发现直接危及人身安全的紧急情况时，有权停止作业或者在采取可能的应急措施后撤离作业场所。",
        [],
        [0],
        "安全生产法规定的从业人员紧急避险权。",
        "安全生产",
        2,
    ),
    (
        "multiple",
        "劳模精神的内涵包括哪些？",
        ["爱岗敬业、争创一流", "艰苦奋斗、勇于创新", "淡泊名利、甘于奉献", "因循守旧、按部就班"],
        [0, 1, 2],
        "",
        "劳模精神",
        2,
    ),
    (
        "single",
        "“执着专注、精益求精、一丝不苟、追求卓越”是哪种精神的内涵？",
        ["劳模精神", "劳动精神", "工匠精神", "奉献精神"],
        [2],
        "",
        "劳模精神",
        1,
    ),
    (
        "single",
        "“崇尚劳动、热爱劳动、辛勤劳动、诚实劳动”是哪种精神的内涵？",
        ["劳模精神", "劳动精神", "工匠精神", "创新精神"],
        [1],
        "",
        "劳模精神",
        1,
    ),
    (
        "fill",
        "大力弘扬劳模精神、劳动精神、____精神。",
        [],
        ["工匠"],
        "",
        "劳模精神",
        1,
    ),
    (
        "truefalse",
        "学习宣传贯彻全会精神要坚持学思用贯通、知信行统一。",
        [],
        [0],
        "",
        "全会精神",
        1,
    ),
    (
        "multiple",
        "推动宣讲进企业、进车间、进班组，可以采取哪些方式？",
        ["集中宣讲", "分众化宣讲", "“微宣讲”", "只发文件不组织学习"],
        [0, 1, 2],
        "",
        "全会精神",
        1,
    ),
    (
        "single",
        "组织职工开展劳动和技能竞赛的主要目的是？",
        ["以赛促学、以赛促干", "增加加班时间", "替代岗位培训", "减少职工福利"],
        [0],
        "",
        "全会精神",
        1,
    ),
    (
        "truefalse",
        "工会可以通过“职工书屋”、网上答题等形式组织职工学习。",
        [],
        [0],
        "",
        "全会精神",
        1,
    ),
)
KINDS = {
    "single": QuestionKind.SINGLE,
    "multiple": QuestionKind.MULTIPLE,
    "truefalse": QuestionKind.TRUE_FALSE,
    "fill": QuestionKind.FILL,
}


@contextmanager
def _at(moment: datetime.datetime) -> Iterator[None]:
    """Run services as if it were `moment` (timezone.now, auto_now fields)."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


class LearningStory:
    def __init__(self, context: DemoContext) -> None:
        self.context = context
        self.today = context.today
        self.plan = PLANS.get(context.scale, PLANS["sichuan"])
        self.rng = random.Random(f"{context.seed}:{context.scale}:learning")
        User = get_user_model()
        self.users = {u.username: u for u in User.objects.filter(username__in=["sheng", "zhigong"])}
        self.cadre = self.users.get("sheng", SYSTEM)
        self.completions = 0
        self.attempts = 0

    def moment(self, day: int, hour: int, minute: int = 0) -> datetime.datetime:
        local = datetime.datetime.combine(
            self.today + datetime.timedelta(days=day), datetime.time(hour, minute)
        )
        return timezone.make_aware(local)

    def study_requirement(self) -> int | None:
        """The demo notice's study requirement, when the notice step ran."""
        from gonghui.notices.models import NoticeStatus, Requirement, RequirementKind

        return (
            Requirement.objects.filter(
                kind=RequirementKind.STUDY,
                relay__isnull=True,
                notice__issuer=self.context.root,
                notice__status=NoticeStatus.ISSUED,
            )
            .order_by("notice_id", "position", "pk")
            .values_list("pk", flat=True)
            .first()
        )

    # --- the content --------------------------------------------------------------------

    def publish(self, requirement_id: int | None) -> tuple[Course, Quiz]:
        root: Org = self.context.root
        cadre = self.cadre
        items = []
        with _at(self.moment(-12, 10)):
            for title, tags, body, seconds in ARTICLES:
                material = services.create_material(
                    cadre,
                    org=root,
                    data=services.MaterialInput(MaterialKind.ARTICLE, title, body=body, tags=tags),
                )
                material = services.publish_material(cadre, material)
                items.append(services.CourseItemInput(material, min_seconds=seconds))
            title, tags, link = VIDEO
            video = services.create_material(
                cadre,
                org=root,
                data=services.MaterialInput(MaterialKind.VIDEO, title, video_url=link, tags=tags),
            )
            video = services.publish_material(cadre, video)
            items.insert(2, services.CourseItemInput(video, confirm_watched=True))
        with _at(self.moment(-12, 15)):
            course = services.create_course(
                cadre,
                org=root,
                data=services.CourseInput(
                    COURSE_TITLE,
                    description="原原本本学工会法，联系岗位学全会精神。学完全部材料即完成课程，"
                    "计入通知“组织工会干部和会员职工集中学习”的完成情况。",
                    items=items,
                    due=self.today + datetime.timedelta(days=21),
                    requirement_id=requirement_id,
                ),
            )
            course = services.publish_course(cadre, course)
        with _at(self.moment(-11, 9)):
            for kind, text, options, answer, explanation, tag, difficulty in QUESTIONS:
                services.add_question(
                    cadre,
                    org=root,
                    data=services.QuestionInput(
                        KINDS[kind],
                        text,
                        options=list(options),
                        answer=list(answer),
                        explanation=explanation,
                        tags=[tag],
                        difficulty=Difficulty(difficulty),
                    ),
                )
        with _at(self.moment(-10, 9)):
            quiz = services.create_quiz(
                cadre,
                org=root,
                data=services.QuizInput(
                    QUIZ_TITLE,
                    rules=[
                        services.DrawRule(4, tag="工会法"),
                        services.DrawRule(3, tag="劳动法律"),
                        services.DrawRule(3),
                    ],
                    opens_at=self.moment(-7, 8),
                    closes_at=self.moment(23, 20),
                    description="全省职工线上知识竞赛：每次随机抽取10题，限时10分钟，每人可答3次，"
                    "按最好成绩排名，成绩相同者用时少者在前。",
                    time_limit_seconds=600,
                    pass_mark=60,
                    attempts_allowed=3,
                    is_contest=True,
                    requirement_id=requirement_id,
                ),
            )
            quiz = services.publish_quiz(cadre, quiz)
        return course, quiz

    # --- who studied --------------------------------------------------------------------

    def demo_union(self) -> Org | None:
        worker = self.users.get("zhigong")
        member = Member.objects.filter(user=worker).select_related("unit").first()
        if member is None:
            return None
        if member.unit.kind == OrgKind.GRASSROOTS:
            return member.unit
        return Org.objects.filter(pk__in=member.unit.ancestor_ids, kind=OrgKind.GRASSROOTS).first()

    def unions(self) -> list[Org]:
        """A few grassroots unions per city, drawn by the seed; the demo worker's first."""
        demo = self.demo_union()
        chosen: list[Org] = [demo] if demo is not None else []
        for city in Org.objects.filter(parent=self.context.root).order_by("path"):
            ids = list(
                Org.objects.filter(
                    ancestor_1=city.pk, kind=OrgKind.GRASSROOTS, status=OrgStatus.ACTIVE
                )
                .order_by("path")
                .values_list("pk", flat=True)
            )
            picked = sorted(self.rng.sample(ids, min(self.plan.unions_per_city, len(ids))))
            chosen += [
                o
                for o in Org.objects.filter(pk__in=picked).order_by("path")
                if demo is None or o.pk != demo.pk
            ]
        return chosen[: self.plan.max_unions]

    def members_of(self, union: Org, wanted: int) -> list[Member]:
        members = list(
            Member.objects.filter(
                status=MemberStatus.ACTIVE, **{f"unit__ancestor_{union.depth}": union.pk}
            )
            .select_related("unit")
            .order_by("pk")
        )
        return sorted(self.rng.sample(members, min(wanted, len(members))), key=lambda m: m.pk)

    # --- studying -----------------------------------------------------------------------

    def study(self, course: Course, learners: list[Member], worker: Member | None) -> None:
        """Each learner opens the materials in order on one day since the course came;
        most read to the end, some stop part of the way. The openings are written in bulk
        with their moments; marking each done goes through the service at its moment."""
        rng = self.rng
        items = list(CourseItem.objects.filter(course=course).order_by("position"))
        openings: list[ItemProgress] = []
        done: list[tuple[datetime.datetime, Member, CourseItem]] = []
        for member in learners:
            if worker is not None and member.pk == worker.pk:
                reach = 2  # the demo worker: half-way, the rest to do
                at = self.moment(-2, 20, 5)
            else:
                reach = len(items) if rng.random() < 0.7 else rng.randint(1, len(items) - 1)
                at = self.moment(-rng.randint(1, 11), rng.choice((8, 12, 19, 20, 21)))
                at += datetime.timedelta(minutes=rng.randint(0, 50))
            for item in items[:reach]:
                openings.append(ItemProgress(item=item, member=member, opened_at=at))
                at += datetime.timedelta(seconds=item.min_seconds + rng.randint(20, 400))
                done.append((at, member, item))
                at += datetime.timedelta(seconds=rng.randint(5, 60))
        ItemProgress.objects.bulk_create(openings, batch_size=1000)
        for at, member, item in sorted(done, key=lambda d: (d[0], d[1].pk, d[2].pk)):
            with _at(at):
                services.complete_item(member, item, watched=True, now=at)
        self.completions = course.completions.count()

    @contextmanager
    def account_of(self, member: Member, proxy: Any) -> Iterator[Any]:
        """The demo's members have no accounts, and the services know a worker by their
        account: a stand-in account is linked to the member while they answer."""
        if member.user_id is not None:
            yield member.user
            return
        Member.objects.filter(pk=member.pk).update(user=proxy)
        try:
            yield proxy
        finally:
            Member.objects.filter(pk=member.pk).update(user=None)

    def contest(self, quiz: Quiz, contestants: list[Member]) -> None:
        """Each contestant takes one to three attempts on days since the contest opened,
        knowing a share of the answers."""
        rng = self.rng
        User = get_user_model()
        proxy, _created = User.objects.get_or_create(
            username=PROXY_USERNAME, defaults={"is_active": False}
        )
        plays = []
        for member in contestants:
            skill = rng.uniform(0.45, 1.0)
            day = -rng.randint(1, 6)
            start = self.moment(day, rng.choice((9, 12, 20, 21)), rng.randint(0, 59))
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                plays.append((start, member, skill))
                start += datetime.timedelta(minutes=rng.randint(15, 90))
        for start, member, skill in sorted(plays, key=lambda p: (p[0], p[1].pk)):
            with self.account_of(member, proxy) as user, _at(start):
                try:
                    attempt = services.start_attempt(user, quiz, now=start)
                except services.LearningRefused:
                    continue
                answers = {}
                for n, q in enumerate(attempt.snapshot):
                    if rng.random() < skill:
                        answers[str(n)] = q["answer"][0] if q["kind"] == "fill" else q["answer"]
                    elif q["kind"] == "fill":
                        answers[str(n)] = "不清楚"
                    else:
                        wrong = [i for i in range(len(q["options"])) if i not in q["answer"]]
                        answers[str(n)] = [rng.choice(wrong)] if wrong else []
                ended = start + datetime.timedelta(seconds=rng.randint(90, 560))
                with _at(ended):
                    services.submit_attempt(user, attempt, answers, now=ended)
                self.attempts += 1
        proxy.delete()

    def run(self) -> tuple[Course, Quiz]:
        course, quiz = self.publish(self.study_requirement())
        worker_user = self.users.get("zhigong")
        worker = Member.objects.filter(user=worker_user).select_related("unit").first()
        learners: list[Member] = []
        contestants: list[Member] = []
        for union in self.unions():
            learners += self.members_of(union, self.plan.learners_per_union)
            contestants += [
                m
                for m in self.members_of(union, self.plan.contestants_per_union)
                if worker is None or m.pk != worker.pk  # the worker's contest is still to do
            ]
        if worker is not None and worker.pk not in {m.pk for m in learners}:
            learners.append(worker)
        self.study(course, learners, worker)
        self.contest(quiz, contestants)
        # Check-ins earn points through the job; the demo runs it once, as the worker would.
        services.award_checkin_points()
        self.context.say(
            f"learning: {len(learners)} learners, {self.completions} completed the course, "
            f"{self.attempts} contest attempts"
        )
        return course, quiz


def build_demo_learning(context: DemoContext) -> tuple[Course, Quiz]:
    """The demo step (registered in LearningConfig.ready, after the notice)."""
    return LearningStory(context).run()


def delete_study_content() -> None:
    """Every course, quiz, material and question, with what hangs on them: for tests that
    build the demo tree twice (the content holds on to its unions)."""
    Course.objects.all().delete()  # its items, progress and completions
    Quiz.objects.all().delete()  # its attempts and results
    Material.objects.all().delete()
    Question.objects.all().delete()
    PointsEntry.objects.all().delete()
