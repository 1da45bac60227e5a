"""The cleanup rules (三、重点清理对象 R01–R12) and the plan's other duties (X01–X03).

Each rule is one declared `Rule`: its code, the Chinese title from the policy
document, the level of its findings, the extracts its evidence comes from, the
policy knobs it reads, and the SQL that yields its findings. Every rule's SQL
returns the same columns:

    household_id, id_number, source, source_record_id, match_class, match_score,
    evidence, evidence_key

which `run_rules` writes to `flags` (the contract's columns) and `flag_keys`
(the evidence fingerprint used to remember caseworkers' verdicts across months).
Registry evidence comes only through `link_pairs` (the linkage engine); a
member's finding takes the best class of its evidence (exact > probable > possible).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb

from matching.policy import Policy
from matching.rule_titles import RULE_TITLES

FLAG_COLUMNS = ("household_id", "id_number", "source", "source_record_id", "match_class", "match_score",
                "evidence", "evidence_key")


@dataclass(frozen=True)
class RunContext:
    run_month: str  # 'YYYY-MM'
    policy: Policy
    present: frozenset[str] = frozenset()  # extracts loaded this month

    @property
    def month_start(self) -> dt.date:
        year, month = map(int, self.run_month.split("-"))
        return dt.date(year, month, 1)

    @property
    def as_of(self) -> dt.date:
        start = self.month_start
        nxt = dt.date(start.year + (start.month == 12), start.month % 12 + 1, 1)
        return nxt - dt.timedelta(days=1)

    def lookback_start(self, months: int) -> dt.date:
        """First day of the earliest month of an N-month look-back ending with the run month."""
        start = self.month_start
        index = start.year * 12 + start.month - 1 - (months - 1)
        return dt.date(index // 12, index % 12 + 1, 1)

    def lit(self, value: object) -> str:
        if isinstance(value, dt.date):
            return f"DATE '{value.isoformat()}'"
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        return repr(value)


@dataclass(frozen=True)
class Rule:
    code: str
    level: str  # 'member', 'household' or 'member/household'
    sources: tuple[str, ...]  # extracts whose absence switches the rule off
    knobs: tuple[str, ...]  # policy keys it reads
    sql: Callable[[RunContext], str]
    any_of: tuple[str, ...] = ()  # the rule runs when at least one of these is present
    notes: str = ""

    def missing(self, present: frozenset[str]) -> list[str]:
        """Extracts whose absence switches the rule off (empty when it runs)."""
        gone = [s for s in self.sources if s not in present]
        if self.any_of and not any(s in present for s in self.any_of):
            gone += list(self.any_of)
        return gone

    @property
    def title(self) -> str:
        return RULE_TITLES[self.code]


# ---------------------------------------------------------------- building blocks

CLASS_RANK = "CASE match_class WHEN 'exact' THEN 3 WHEN 'probable' THEN 2 ELSE 1 END"


def linked_evidence_sql(ctx: RunContext, source: str, condition: str, detail: str, identity: str,
                        order: str, beneficiaries_only: bool = False) -> str:
    """Registry rows of `source` linked to active members and meeting `condition` (on `r`, `m`).

    `detail` is a Chinese phrase per evidence row, `identity` what makes the evidence
    the same evidence next month, `order` which row is shown first (larger first)."""
    ben = "AND m.is_beneficiary" if beneficiaries_only else ""
    return f"""
    SELECT m.household_id, m.id_number, m.member_key, m.name AS member_name, lp.source,
           lp.source_record_id, lp.match_class, lp.match_score, lp.evidence AS link_evidence,
           {detail} AS detail, {identity} AS identity, {order} AS ord
    FROM link_pairs lp
    JOIN stg_members m ON m.member_key = lp.member_key AND m.run_month = {ctx.lit(ctx.run_month)}
    JOIN raw_{source} r ON r.record_id = lp.source_record_id AND r.run_month = {ctx.lit(ctx.run_month)}
    WHERE lp.run_month = {ctx.lit(ctx.run_month)} AND lp.source = '{source}' AND m.active {ben}
      AND ({condition})"""


def member_findings_sql(evidence_sql: str, heading: str) -> str:
    """One finding per (member, source): the best class of its evidence, its strongest row shown."""
    return f"""
    WITH ev AS ({evidence_sql}),
    ranked AS (
        SELECT *, {CLASS_RANK} AS rank, max({CLASS_RANK}) OVER (PARTITION BY member_key, source) AS best_rank
        FROM ev
    ), best AS (SELECT * FROM ranked WHERE rank = best_rank)
    SELECT household_id, id_number, source,
           arg_max(source_record_id, (ord, match_score, source_record_id)) AS source_record_id,
           any_value(match_class) AS match_class,
           max(match_score) AS match_score,
           '{heading}：' || arg_max(member_name, (ord, source_record_id)) || ' ' || arg_max(detail, (ord, match_score, source_record_id))
               || CASE WHEN count(*) > 1 THEN '（共' || count(*) || '条记录）' ELSE '' END
               || '；' || arg_max(link_evidence, (ord, match_score, source_record_id)) AS evidence,
           md5(string_agg(DISTINCT identity, '|' ORDER BY identity)) AS evidence_key
    FROM best GROUP BY household_id, id_number, member_key, source"""


def months_in(column: str, ctx: RunContext, months: int) -> str:
    return f"{column} BETWEEN {ctx.lit(ctx.lookback_start(months))} AND {ctx.lit(ctx.month_start)}"


def yuan(expr: str) -> str:
    return f"printf('%.2f', {expr})"


def person_identity(source: str) -> str:
    return f"'{source}:' || coalesce(r.name, '') || ':' || coalesce(r.id_number, '')"


# ---------------------------------------------------------------- R01–R05

def r01_sql(ctx: RunContext) -> str:
    ev = linked_evidence_sql(
        ctx, "deaths", f"r.death_date <= {ctx.lit(ctx.as_of)}",
        detail="'死亡日期' || strftime(r.death_date, '%Y-%m-%d') || '（记录' || r.record_id || '）'",
        identity="'deaths:' || r.record_id", order="epoch(r.death_date)", beneficiaries_only=True)
    return member_findings_sql(ev, "死亡登记")


def payment_rule_sql(source: str, months_knob: str, heading: str, month_col: str = "pay_month"):
    def sql(ctx: RunContext) -> str:
        months = ctx.policy[months_knob]
        ev = linked_evidence_sql(
            ctx, source, months_in(f"r.{month_col}", ctx, months),
            detail=f"strftime(r.{month_col}, '%Y-%m') || ' ' || {yuan('r.amount')} || '元（记录' || r.record_id || '）'",
            identity=person_identity(source), order=f"epoch(r.{month_col})")
        return member_findings_sql(ev, heading)
    return sql


def r05_sql(ctx: RunContext) -> str:
    prefixes = ctx.policy["vehicles.flag_type_prefixes"]
    cond = " OR ".join(f"starts_with(upper(trim(r.vehicle_type)), {ctx.lit(p.upper())})" for p in prefixes) or "FALSE"
    ev = linked_evidence_sql(
        ctx, "vehicles", f"trim(r.status) = '正常' AND ({cond})",
        detail="'号牌' || coalesce(r.plate, '') || ' 车辆类型' || r.vehicle_type || ' 状态正常'",
        identity="'vehicles:' || coalesce(r.plate, r.record_id)", order="epoch(coalesce(r.registered_on, DATE '1900-01-01'))")
    return member_findings_sql(ev, "机动车登记")


def r06_sql(ctx: RunContext) -> str:
    uses = ", ".join(ctx.lit(u) for u in ctx.policy["properties.flag_uses"]) or "''"
    ev = linked_evidence_sql(
        ctx, "properties", f"trim(r.status) = '现势' AND trim(r.use) IN ({uses})",
        detail="'不动产' || coalesce(r.certificate_no, '') || ' 用途' || r.use || ' 面积' || coalesce(printf('%.1f', r.area), '?') || '㎡'",
        identity="'properties:' || coalesce(r.certificate_no, r.record_id)",
        order="epoch(coalesce(r.registered_on, DATE '1900-01-01'))")
    members = member_findings_sql(ev, "不动产登记")
    homes = linked_evidence_sql(
        ctx, "properties", "trim(r.status) = '现势' AND trim(r.use) = '住宅'",
        detail="coalesce(r.certificate_no, r.record_id)",
        identity="'properties:' || coalesce(r.certificate_no, r.record_id)", order="0")
    max_homes = ctx.policy["properties.max_homes"]
    return f"""
    {members}
    UNION ALL
    SELECT household_id, NULL AS id_number, 'properties' AS source, min(source_record_id) AS source_record_id,
           CASE WHEN bool_and(match_class = 'exact') THEN 'exact' ELSE 'probable' END AS match_class,
           min(match_score) AS match_score,
           '家庭成员名下现势住宅' || count(DISTINCT identity) || '套（超过' || {max_homes} || '套）：'
               || string_agg(DISTINCT member_name || ' ' || detail, '、' ORDER BY member_name || ' ' || detail) AS evidence,
           md5(string_agg(DISTINCT identity, '|' ORDER BY identity)) AS evidence_key
    FROM ({homes}) h
    WHERE match_class IN ('exact', 'probable')
    GROUP BY household_id
    HAVING count(DISTINCT identity) > {max_homes}"""


# ---------------------------------------------------------------- R07, R09

def r07_sql(ctx: RunContext) -> str:
    events = linked_evidence_sql(
        ctx, "household_events", "trim(r.event_type) IN ('迁出', '人户分离') AND r.event_date >= m.enrolled_on",
        detail="r.event_type || ' ' || strftime(r.event_date, '%Y-%m-%d') || '（首次享受' || strftime(m.enrolled_on, '%Y-%m-%d') || '之后）'",
        identity="'household_events:' || r.record_id", order="epoch(r.event_date)")
    divorces = linked_evidence_sql(
        ctx, "marriages", "trim(r.event_type) = '离婚' AND r.event_date >= m.enrolled_on",
        detail="'离婚登记 ' || strftime(r.event_date, '%Y-%m-%d') || '（首次享受' || strftime(m.enrolled_on, '%Y-%m-%d') || '之后）'",
        identity="'marriages:' || r.record_id", order="epoch(r.event_date)")
    months = ctx.policy["lookback.employment_months"]
    age_max = ctx.policy["graduate_age_max"]
    min_months = ctx.policy["graduate_min_months"]
    as_of = ctx.lit(ctx.as_of)
    work = linked_evidence_sql(
        ctx, "employment",
        f"{months_in('r.contribution_month', ctx, months)} AND m.birth_date IS NOT NULL "
        f"AND date_sub('year', m.birth_date, {as_of}) BETWEEN 16 AND {age_max}",
        detail="'参保缴费 ' || strftime(r.contribution_month, '%Y-%m') || ' ' || coalesce(r.employer, '')",
        identity="'employment:' || strftime(r.contribution_month, '%Y-%m')", order="epoch(r.contribution_month)")
    work_findings = f"""
    SELECT household_id, id_number, source, arg_max(source_record_id, (ord, source_record_id)) AS source_record_id,
           CASE WHEN count(DISTINCT identity) FILTER (WHERE match_class = 'exact') >= {min_months} THEN 'exact'
                WHEN count(DISTINCT identity) FILTER (WHERE match_class IN ('exact', 'probable')) >= {min_months}
                THEN 'probable' ELSE 'possible' END AS match_class,
           max(match_score) AS match_score,
           '就业参保：' || any_value(member_name) || ' 年龄' || any_value(date_sub('year', m_birth, {as_of}))
               || '岁，近{months}个月有' || count(DISTINCT identity) || '个月参保缴费，最近'
               || arg_max(detail, (ord, source_record_id)) || '；' || arg_max(link_evidence, (ord, source_record_id)) AS evidence,
           md5(string_agg(DISTINCT source_record_id, '|' ORDER BY source_record_id)) AS evidence_key
    FROM (SELECT e.*, sm.birth_date AS m_birth FROM ({work}) e
          JOIN stg_members sm ON sm.member_key = e.member_key AND sm.run_month = {ctx.lit(ctx.run_month)})
    GROUP BY household_id, id_number, member_key, source
    HAVING count(DISTINCT identity) >= {min_months}"""
    parts = [(source, sql) for source, sql in (
        ("household_events", member_findings_sql(events, "户籍变动")),
        ("marriages", member_findings_sql(divorces, "婚姻登记")),
        ("employment", work_findings)) if source in ctx.present]
    return " UNION ALL ".join(f"SELECT * FROM ({sql})" for _, sql in parts)


def r09_sql(ctx: RunContext) -> str:
    months = ctx.policy["lookback.employment_months"]
    min_months = ctx.policy["migrant_work_min_months"]
    ev = linked_evidence_sql(
        ctx, "employment",
        f"{months_in('r.contribution_month', ctx, months)} AND substr(trim(r.city_code), 1, 4) <> substr(m.district_code, 1, 4)",
        detail="'参保地' || r.city_code || ' ' || strftime(r.contribution_month, '%Y-%m') || ' ' || coalesce(r.employer, '')",
        identity="strftime(r.contribution_month, '%Y-%m')", order="epoch(r.contribution_month)")
    return f"""
    SELECT household_id, id_number, source, arg_max(source_record_id, (ord, source_record_id)) AS source_record_id,
           CASE WHEN count(DISTINCT identity) FILTER (WHERE match_class = 'exact') >= {min_months} THEN 'exact'
                WHEN count(DISTINCT identity) FILTER (WHERE match_class IN ('exact', 'probable')) >= {min_months}
                THEN 'probable' ELSE 'possible' END AS match_class,
           max(match_score) AS match_score,
           '外地参保：' || any_value(member_name) || ' 近{months}个月中有' || count(DISTINCT identity)
               || '个月在本市以外参保缴费（≥{min_months}个月），最近' || arg_max(detail, (ord, source_record_id))
               || '；' || arg_max(link_evidence, (ord, source_record_id)) AS evidence,
           md5(string_agg(DISTINCT identity, '|' ORDER BY identity)) AS evidence_key
    FROM ({ev}) e
    GROUP BY household_id, id_number, member_key, source
    HAVING count(DISTINCT identity) >= {min_months}"""


# ---------------------------------------------------------------- R08, R10, R11, R12

def r08_sql(ctx: RunContext) -> str:
    p_months = ctx.policy["lookback.pension_months"]
    u_months = ctx.policy["lookback.unemployment_months"]
    by_district = ctx.policy["standard.by_district"]
    default = float(ctx.policy["standard.default"])
    standard = ("CASE h.district_code " + " ".join(f"WHEN {ctx.lit(k)} THEN {float(v)!r}" for k, v in by_district.items())
                + f" ELSE {default!r} END") if by_district else repr(default)
    m = ctx.lit(ctx.run_month)

    def benefit(source: str, months: int) -> str:
        return f"""
        SELECT m.household_id, sum(r.amount) / {months} AS monthly
        FROM link_pairs lp
        JOIN stg_members m ON m.member_key = lp.member_key AND m.run_month = {m}
        JOIN raw_{source} r ON r.record_id = lp.source_record_id AND r.run_month = {m}
        WHERE lp.run_month = {m} AND lp.source = '{source}' AND lp.match_class IN ('exact', 'probable')
          AND {months_in('r.pay_month', ctx, months)}
        GROUP BY m.household_id"""

    pen, une = benefit("pensions", p_months), benefit("unemployment", u_months)
    return f"""
    WITH h AS (
        SELECT s.household_id, any_value(s.district_code) AS district_code, count(*) AS members,
               sum(s.monthly_income) AS declared
        FROM stg_members s WHERE s.run_month = {m} AND s.active GROUP BY s.household_id
    ), calc AS (
        SELECT h.household_id, h.members, h.declared, coalesce(p.monthly, 0) AS pension,
               coalesce(u.monthly, 0) AS unemployment, {standard} AS standard,
               (h.declared + coalesce(p.monthly, 0) + coalesce(u.monthly, 0)) / h.members AS per_capita
        FROM h LEFT JOIN ({pen}) p USING (household_id) LEFT JOIN ({une}) u USING (household_id)
    )
    SELECT household_id, NULL AS id_number, 'roster_members' AS source, NULL AS source_record_id,
           'exact' AS match_class, 1.0 AS match_score,
           '家庭人均收入：申报月收入合计' || {yuan('declared')} || '元 + 养老金月均' || {yuan('pension')}
               || '元（近{p_months}个月） + 失业金月均' || {yuan('unemployment')} || '元（近{u_months}个月） = '
               || {yuan('declared + pension + unemployment')} || '元 ÷ ' || members || '人 = '
               || {yuan('per_capita')} || '元/人·月 ≥ 保障标准' || {yuan('standard')} || '元' AS evidence,
           md5('R08:' || {yuan('per_capita')}) AS evidence_key
    FROM calc WHERE round(per_capita, 2) >= standard"""


def r10_sql(ctx: RunContext) -> str:
    years = ctx.policy["long_enrolment_years"]
    cutoff = ctx.lit(ctx.as_of)
    return f"""
    SELECT household_id, NULL AS id_number, 'roster_households' AS source, NULL AS source_record_id,
           'exact' AS match_class, 1.0 AS match_score,
           '首次享受日期' || strftime(enrolled_on, '%Y-%m-%d') || '，至' || strftime({cutoff}, '%Y-%m-%d')
               || '已连续享受' || date_sub('year', enrolled_on, {cutoff}) || '年（≥{years}年）' AS evidence,
           md5('R10:' || enrolled_on::VARCHAR) AS evidence_key
    FROM raw_roster_households
    WHERE run_month = {ctx.lit(ctx.run_month)} AND status = '在保'
      AND enrolled_on <= ({cutoff} - INTERVAL {int(years)} YEAR)::DATE"""


def r11_sql(ctx: RunContext) -> str:
    limit = ctx.policy["max_beneficiaries"]
    return f"""
    SELECT household_id, NULL AS id_number, 'roster_members' AS source, NULL AS source_record_id,
           'exact' AS match_class, 1.0 AS match_score,
           '保障对象' || count(*) || '人（超过{limit}人）：' || string_agg(name, '、' ORDER BY _row_number) AS evidence,
           md5('R11:' || count(*)) AS evidence_key
    FROM stg_members WHERE run_month = {ctx.lit(ctx.run_month)} AND active AND is_beneficiary
    GROUP BY household_id HAVING count(*) > {limit}"""


def r12_sql(ctx: RunContext) -> str:
    m = ctx.lit(ctx.run_month)
    return f"""
    WITH c AS (
        SELECT c.*, s.id_number AS id_norm, s.id_status, s.name_simplified AS c_name
        FROM raw_complaints c
        JOIN stg_registry s ON s.source = 'complaints' AND s.record_id = c.record_id
        WHERE c.run_month = {m} AND c.received_on <= {ctx.lit(ctx.as_of)}
    ), hits AS (
        SELECT h.household_id, c.record_id, c.received_on, c.content, '举报指明低保户编号' AS how
        FROM c JOIN raw_roster_households h ON h.run_month = {m} AND h.household_id = trim(c.household_id)
        WHERE h.status = '在保'
        UNION ALL
        SELECT s.household_id, c.record_id, c.received_on, c.content, '举报指明成员身份证号（' || s.name || '）'
        FROM c JOIN stg_members s ON s.run_month = {m} AND s.active AND s.id_status = 'valid'
             AND s.id_number = c.id_norm
        UNION ALL
        SELECT s.household_id, c.record_id, c.received_on, c.content, '举报同社区同名成员（' || s.name || '）'
        FROM c JOIN stg_members s ON s.run_month = {m} AND s.active AND s.name_simplified = c.c_name
             AND trim(s.community) = trim(c.community)
        WHERE coalesce(trim(c.household_id), '') = '' AND c.id_status = 'blank'
    )
    SELECT household_id, NULL AS id_number, 'complaints' AS source, arg_max(record_id, (received_on, record_id)) AS source_record_id,
           'exact' AS match_class, 1.0 AS match_score,
           '举报：' || strftime(max(received_on), '%Y-%m-%d') || ' 受理，' || arg_max(how, (received_on, record_id))
               || '，内容：' || coalesce(arg_max(content, (received_on, record_id)), '')
               || CASE WHEN count(DISTINCT record_id) > 1 THEN '（共' || count(DISTINCT record_id) || '件）' ELSE '' END
               AS evidence,
           md5(string_agg(DISTINCT record_id, '|' ORDER BY record_id)) AS evidence_key
    FROM hits GROUP BY household_id"""


# ---------------------------------------------------------------- X01–X03

def x01_sql(ctx: RunContext) -> str:
    m = ctx.lit(ctx.run_month)
    return f"""
    WITH ben AS (
        SELECT s.household_id, s.id_number, s.member_key, s.name, lp.source_record_id AS hukou_record,
               lp.match_class, lp.match_score, hk.hukou_no
        FROM stg_members s
        JOIN link_pairs lp ON lp.member_key = s.member_key AND lp.run_month = {m}
             AND lp.source = 'hukou_members' AND lp.match_class IN ('exact', 'probable')
        JOIN raw_hukou_members hk ON hk.record_id = lp.source_record_id AND hk.run_month = {m}
        WHERE s.run_month = {m} AND s.active AND s.is_beneficiary
    ), staff_hukou AS (
        SELECT st.record_id AS staff_record, st.name AS staff_name, st.org, st.role, hk.hukou_no,
               hk.record_id AS hukou_record, l.match_class, l.match_score
        FROM link_staff_hukou l
        JOIN raw_staff st ON st.record_id = l.staff_record_id AND st.run_month = {m}
        JOIN raw_hukou_members hk ON hk.record_id = l.hukou_record_id AND hk.run_month = {m}
        WHERE l.run_month = {m} AND l.match_class IN ('exact', 'probable')
    ), filed AS (
        SELECT DISTINCT lp.member_key FROM link_pairs lp
        WHERE lp.run_month = {m} AND lp.source = 'relative_filings' AND lp.match_class IN ('exact', 'probable')
    )
    SELECT b.household_id, b.id_number, 'staff' AS source, arg_min(sh.staff_record, sh.staff_record) AS source_record_id,
           CASE WHEN bool_and(b.match_class = 'exact' AND sh.match_class = 'exact') THEN 'exact' ELSE 'probable' END
               AS match_class,
           min(least(b.match_score, sh.match_score)) AS match_score,
           '近亲属未备案：' || any_value(b.name) || '与' || string_agg(DISTINCT sh.staff_name || '（'
               || coalesce(sh.org, '') || sh.role || '）', '、' ORDER BY sh.staff_name || '（'
               || coalesce(sh.org, '') || sh.role || '）') || '同户（户号' || min(b.hukou_no)
               || '），区民政局无近亲属备案' AS evidence,
           md5(string_agg(DISTINCT sh.staff_record || ':' || b.hukou_no, '|' ORDER BY sh.staff_record || ':' || b.hukou_no))
               AS evidence_key
    FROM ben b JOIN staff_hukou sh ON sh.hukou_no = b.hukou_no AND sh.hukou_record <> b.hukou_record
    WHERE b.member_key NOT IN (SELECT member_key FROM filed)
    GROUP BY b.household_id, b.id_number, b.member_key"""


def x02_sql(ctx: RunContext) -> str:
    m = ctx.lit(ctx.run_month)
    return f"""
    WITH pairs AS (
        SELECT member_key_a AS mine, member_key_b AS other, match_class, match_score, evidence
        FROM link_member_pairs WHERE run_month = {m} AND match_class IN ('exact', 'probable', 'possible')
        UNION ALL
        SELECT member_key_b, member_key_a, match_class, match_score, evidence
        FROM link_member_pairs WHERE run_month = {m} AND match_class IN ('exact', 'probable', 'possible')
    )
    SELECT a.household_id, a.id_number, 'roster_members' AS source, arg_max(o.member_key, (p.match_score, o.member_key)) AS source_record_id,
           arg_max(p.match_class, (p.match_score, o.member_key)) AS match_class, max(p.match_score) AS match_score,
           '重复在保：' || any_value(a.name) || ' 同时是在保家庭' || string_agg(DISTINCT o.household_id, '、' ORDER BY o.household_id)
               || '的成员（' || arg_max(o.name, (p.match_score, o.member_key)) || '）；' || arg_max(p.evidence, (p.match_score, o.member_key)) AS evidence,
           md5(string_agg(DISTINCT o.household_id, '|' ORDER BY o.household_id)) AS evidence_key
    FROM pairs p
    JOIN stg_members a ON a.member_key = p.mine AND a.run_month = {m}
    JOIN stg_members o ON o.member_key = p.other AND o.run_month = {m}
    WHERE a.active AND o.active
    GROUP BY a.household_id, a.id_number, a.member_key"""


def x03_sql(ctx: RunContext) -> str:
    reasons = ("CASE id_status WHEN 'blank' THEN '身份证号空白' WHEN 'bad_format' THEN '身份证号位数或字符错误（' "
               "|| length(id_number) || '位）' WHEN 'bad_date' THEN '身份证号中的出生日期' || substr(id_number, 7, 8) "
               "|| '不存在' WHEN 'bad_check' THEN '身份证号校验位错误（应为' || dibao_id_check(substr(id_number, 1, 17)) "
               "|| '）' END")
    return f"""
    SELECT household_id, id_number, 'roster_members' AS source, member_key AS source_record_id,
           'exact' AS match_class, 1.0 AS match_score,
           '身份证号无效：' || name || ' ' || {reasons} || '；该成员未按身份证号与其他部门数据比对，仅按姓名列入人工确认'
               AS evidence,
           md5('X03:' || id_number) AS evidence_key
    FROM stg_members WHERE run_month = {ctx.lit(ctx.run_month)} AND active AND id_status <> 'valid'"""


RULES: tuple[Rule, ...] = (
    Rule("R01", "member", ("deaths",), (), r01_sql, notes="beneficiaries only; death on or before as-of"),
    Rule("R02", "member", ("pensions",), ("lookback.pension_months",),
         payment_rule_sql("pensions", "lookback.pension_months", "养老保险金发放")),
    Rule("R03", "member", ("unemployment",), ("lookback.unemployment_months",),
         payment_rule_sql("unemployment", "lookback.unemployment_months", "失业保险金发放")),
    Rule("R04", "member", ("housing_fund",), ("lookback.housing_fund_months",),
         payment_rule_sql("housing_fund", "lookback.housing_fund_months", "住房公积金缴存", "contribution_month")),
    Rule("R05", "member", ("vehicles",), ("vehicles.flag_type_prefixes",), r05_sql),
    Rule("R06", "member/household", ("properties",), ("properties.flag_uses", "properties.max_homes"), r06_sql),
    Rule("R07", "member", (), ("lookback.employment_months", "graduate_age_max", "graduate_min_months"), r07_sql,
         any_of=("household_events", "marriages", "employment"),
         notes="each of its three parts runs when its extract is present"),
    Rule("R08", "household", ("pensions", "unemployment"),
         ("standard.default", "standard.by_district", "lookback.pension_months", "lookback.unemployment_months"),
         r08_sql),
    Rule("R09", "member", ("employment",), ("lookback.employment_months", "migrant_work_min_months"), r09_sql),
    Rule("R10", "household", (), ("long_enrolment_years",), r10_sql),
    Rule("R11", "household", (), ("max_beneficiaries",), r11_sql),
    Rule("R12", "household", ("complaints",), (), r12_sql),
    Rule("X01", "member", ("staff", "hukou_members", "relative_filings"), (), x01_sql),
    Rule("X02", "member", (), (), x02_sql),
    Rule("X03", "member", (), (), x03_sql),
)
RULES_BY_CODE = {r.code: r for r in RULES}


@dataclass
class RulesResult:
    findings: dict[str, int] = field(default_factory=dict)  # rule -> exact/probable rows
    possible: dict[str, int] = field(default_factory=dict)  # rule -> possible rows
    switched_off: dict[str, list[str]] = field(default_factory=dict)  # rule -> missing extracts


def ensure_flag_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""CREATE TABLE IF NOT EXISTS flags (
        run_month VARCHAR, household_id VARCHAR, id_number VARCHAR, rule VARCHAR, source VARCHAR,
        source_record_id VARCHAR, match_class VARCHAR, match_score DOUBLE, evidence VARCHAR)""")
    con.execute("""CREATE TABLE IF NOT EXISTS flag_keys (
        run_month VARCHAR, household_id VARCHAR, id_number VARCHAR, rule VARCHAR, source VARCHAR,
        evidence_key VARCHAR)""")


def run_rules(con: duckdb.DuckDBPyConnection, ctx: RunContext, rules: tuple[Rule, ...] = RULES,
              on_rule: Callable[[str, int], None] | None = None) -> RulesResult:
    """Run every rule for the month; that month's `flags` and `flag_keys` are replaced."""
    ensure_flag_tables(con)
    con.execute("DELETE FROM flags WHERE run_month = ?", [ctx.run_month])
    con.execute("DELETE FROM flag_keys WHERE run_month = ?", [ctx.run_month])
    result = RulesResult()
    for rule in rules:
        missing = rule.missing(ctx.present)
        if missing:
            result.switched_off[rule.code] = missing
            continue
        con.execute(f"CREATE OR REPLACE TEMP TABLE rule_out AS SELECT * FROM ({rule.sql(ctx)})")
        con.execute("""INSERT INTO flags SELECT ?, household_id, id_number, ?, source, source_record_id,
                       match_class, match_score, evidence FROM rule_out""", [ctx.run_month, rule.code])
        con.execute("""INSERT INTO flag_keys SELECT ?, household_id, id_number, ?, source, evidence_key
                       FROM rule_out""", [ctx.run_month, rule.code])
        counts = dict(con.execute("SELECT match_class IN ('exact', 'probable'), count(*) FROM rule_out GROUP BY 1")
                      .fetchall())
        result.findings[rule.code] = counts.get(True, 0)
        result.possible[rule.code] = counts.get(False, 0)
        if on_rule is not None:
            on_rule(rule.code, result.findings[rule.code])
    return result
