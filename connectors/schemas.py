"""Declared schema of every extract in the data contract (../shared/CONTRACT.md).

One `Extract` per input file stem. Each column has its English name, the Chinese
header departments export, a kind that tells the reader how to parse it, and
whether a blank value makes the row unusable (it then goes to quarantine).
Readers, quality suites and the sample generator all take their columns from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Kind(str, Enum):
    """How a cell is parsed. Every kind arrives as text first; IDs stay text."""

    TEXT = "text"  # free text, trimmed
    ID = "id"  # an identifier: kept as text exactly, never a number
    DATE = "date"  # 2024-03-05, 2024/3/5, 20240305, or an Excel serial/date cell
    MONTH = "month"  # 2024-03, 202403 (also 2024/3, 2024年3月); stored as the first day
    DECIMAL = "decimal"  # yuan, area: 1,234.50 allowed
    BOOL = "bool"  # 是/否, Y/N, 1/0, true/false

    @property
    def duckdb_type(self) -> str:
        return {
            Kind.TEXT: "VARCHAR",
            Kind.ID: "VARCHAR",
            Kind.DATE: "DATE",
            Kind.MONTH: "DATE",
            Kind.DECIMAL: "DOUBLE",
            Kind.BOOL: "BOOLEAN",
        }[self]


@dataclass(frozen=True)
class Column:
    name: str
    chinese: str
    kind: Kind = Kind.TEXT
    required: bool = False  # a blank value sends the row to quarantine
    default: object = None  # value used when blank and not required (e.g. income 0)
    distinct: bool = False  # nearly every row's value differs (record keys, ID numbers): stored uncompressed


@dataclass(frozen=True)
class Extract:
    name: str
    title: str  # Chinese title, for messages and reports
    source: str  # the department it comes from
    columns: tuple[Column, ...]
    required: bool = False  # the run stops when the file is missing
    key: str | None = "record_id"  # unique key column, if any
    person: bool = True  # rows name a person (name, id_number) to be linked
    extra: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def _person(*more: Column) -> tuple[Column, ...]:
    """Every registry row: record_id, name, id_number (may be blank), then its own columns."""
    return (
        Column("record_id", "记录编号", Kind.ID, required=True, distinct=True),
        Column("name", "姓名", Kind.TEXT, required=True),
        Column("id_number", "身份证号", Kind.ID, distinct=True),
        *more,
    )


ROSTER_HOUSEHOLDS = Extract(
    name="roster_households",
    title="低保户名册",
    source="民政",
    required=True,
    key="household_id",
    person=False,
    columns=(
        Column("household_id", "低保户编号", Kind.ID, required=True, distinct=True),
        Column("district_code", "区划代码", Kind.ID, required=True),
        Column("street", "街道", Kind.TEXT, required=True),
        Column("community", "社区", Kind.TEXT, required=True),
        Column("address", "家庭住址", Kind.TEXT),
        Column("enrolled_on", "首次享受日期", Kind.DATE, required=True),
        Column("benefit_monthly", "月保障金额", Kind.DECIMAL, default=0.0),
        Column("status", "保障状态", Kind.TEXT, required=True),
    ),
)

ROSTER_MEMBERS = Extract(
    name="roster_members",
    title="低保家庭成员",
    source="民政",
    required=True,
    key=None,
    person=False,
    columns=(
        Column("household_id", "低保户编号", Kind.ID, required=True),
        Column("name", "姓名", Kind.TEXT, required=True),
        Column("id_number", "身份证号", Kind.ID, distinct=True),
        Column("relation", "与户主关系", Kind.TEXT, required=True),
        Column("is_beneficiary", "是否保障对象", Kind.BOOL, required=True),
        Column("monthly_income", "月收入", Kind.DECIMAL, default=0.0),
    ),
)

DEATHS = Extract(
    "deaths", "死亡登记", "公安/卫健/殡葬", required=True,
    columns=_person(Column("death_date", "死亡日期", Kind.DATE, required=True)),
)
PENSIONS = Extract(
    "pensions", "养老保险金发放", "人社", required=True,
    columns=_person(
        Column("pay_month", "发放年月", Kind.MONTH, required=True),
        Column("amount", "发放金额", Kind.DECIMAL, default=0.0),
    ),
)
UNEMPLOYMENT = Extract(
    "unemployment", "失业保险金发放", "人社", required=True,
    columns=_person(
        Column("pay_month", "发放年月", Kind.MONTH, required=True),
        Column("amount", "发放金额", Kind.DECIMAL, default=0.0),
    ),
)
HOUSING_FUND = Extract(
    "housing_fund", "住房公积金缴存", "公积金中心", required=True,
    columns=_person(
        Column("employer", "单位名称", Kind.TEXT),
        Column("contribution_month", "缴存年月", Kind.MONTH, required=True),
        Column("amount", "月缴存额", Kind.DECIMAL, default=0.0),
    ),
)
VEHICLES = Extract(
    "vehicles", "机动车登记", "公安交管", required=True,
    columns=_person(
        Column("plate", "号牌号码", Kind.TEXT),
        Column("vehicle_type", "车辆类型", Kind.TEXT, required=True),
        Column("registered_on", "登记日期", Kind.DATE),
        Column("status", "状态", Kind.TEXT, required=True),
    ),
)
PROPERTIES = Extract(
    "properties", "不动产登记", "不动产登记中心", required=True,
    columns=_person(
        Column("certificate_no", "不动产权证号", Kind.TEXT),
        Column("use", "用途", Kind.TEXT, required=True),
        Column("area", "建筑面积", Kind.DECIMAL),
        Column("registered_on", "登记日期", Kind.DATE),
        Column("status", "状态", Kind.TEXT, required=True),
    ),
)
HOUSEHOLD_EVENTS = Extract(
    "household_events", "户籍变动", "公安户籍",
    columns=_person(
        Column("event_type", "变动类型", Kind.TEXT, required=True),
        Column("event_date", "变动日期", Kind.DATE, required=True),
    ),
)
MARRIAGES = Extract(
    "marriages", "婚姻登记", "民政婚姻登记",
    columns=_person(
        Column("event_type", "登记类型", Kind.TEXT, required=True),
        Column("event_date", "登记日期", Kind.DATE, required=True),
        Column("spouse_name", "配偶姓名", Kind.TEXT),
        Column("spouse_id_number", "配偶身份证号", Kind.ID, distinct=True),
    ),
)
EMPLOYMENT = Extract(
    "employment", "社会保险参保缴费", "社保",
    columns=_person(
        Column("employer", "单位名称", Kind.TEXT),
        Column("city_code", "参保地区划代码", Kind.ID, required=True),
        Column("contribution_month", "缴费年月", Kind.MONTH, required=True),
    ),
)
COMPLAINTS = Extract(
    "complaints", "举报受理", "街道信访",
    columns=(
        Column("record_id", "记录编号", Kind.ID, required=True, distinct=True),
        Column("name", "姓名", Kind.TEXT),
        Column("id_number", "身份证号", Kind.ID, distinct=True),
        Column("received_on", "受理日期", Kind.DATE, required=True),
        Column("household_id", "低保户编号", Kind.ID),
        Column("community", "社区", Kind.TEXT),
        Column("content", "举报内容", Kind.TEXT),
    ),
)
STAFF = Extract(
    "staff", "低保经办人员和社区干部", "街道",
    columns=_person(
        Column("org", "单位", Kind.TEXT),
        Column("role", "岗位", Kind.TEXT, required=True),
    ),
)
HUKOU_MEMBERS = Extract(
    "hukou_members", "户籍人口", "公安户籍",
    columns=_person(
        Column("hukou_no", "户号", Kind.ID, required=True),
        Column("relation", "与户主关系", Kind.TEXT),
    ),
)
RELATIVE_FILINGS = Extract(
    "relative_filings", "近亲属享受低保备案", "区民政局",
    columns=_person(
        Column("staff_id_number", "干部身份证号", Kind.ID, distinct=True),
        Column("staff_name", "干部姓名", Kind.TEXT, required=True),
        Column("filed_on", "备案日期", Kind.DATE),
    ),
)

EXTRACTS: dict[str, Extract] = {
    e.name: e
    for e in (
        ROSTER_HOUSEHOLDS, ROSTER_MEMBERS, DEATHS, PENSIONS, UNEMPLOYMENT, HOUSING_FUND,
        VEHICLES, PROPERTIES, HOUSEHOLD_EVENTS, MARRIAGES, EMPLOYMENT, COMPLAINTS, STAFF,
        HUKOU_MEMBERS, RELATIVE_FILINGS,
    )
}

REGISTRIES: tuple[str, ...] = tuple(
    name for name, e in EXTRACTS.items() if name not in ("roster_households", "roster_members")
)

SUFFIXES: tuple[str, ...] = (".csv", ".xlsx", ".parquet")

# Value sets (the contract's vocabularies), used by rules, quality suites and the generator.
HOUSEHOLD_STATUSES = ("在保", "停保")
RELATIONS = ("户主", "配偶", "子女", "父母", "孙子女", "兄弟姐妹", "其他")
VEHICLE_STATUSES = ("正常", "注销", "报废")
PROPERTY_USES = ("住宅", "商业", "商服", "营业", "车库", "车位", "仓储", "仓库", "办公", "工业")
PROPERTY_STATUSES = ("现势", "注销")
HOUSEHOLD_EVENT_TYPES = ("迁出", "人户分离")
MARRIAGE_EVENT_TYPES = ("结婚", "离婚")
STAFF_ROLES = ("低保经办人员", "社区干部")
