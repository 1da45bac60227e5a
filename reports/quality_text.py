"""The quality gate's results (`quality_results`, written by `expectations/`) in words a street
office reads: the extract's Chinese title, the check in Chinese with the column's Chinese
header, how many rows failed, and up to three example rows (file and row; values masked)."""

from __future__ import annotations

import json
import re

from connectors.schemas import EXTRACTS
from reports.common import redact_ids

CHECKS: dict[str, str] = {
    "present": "文件已提供",
    "has_rows": "文件有数据行",
    "columns_present": "必需的列齐全",
    "not_blank": "“{col}”不为空",
    "id_valid_share": "“{col}”有效身份证号的比例达标",
    "id_blank_share": "“{col}”空白的比例不超标",
    "date_in_range": "“{col}”日期在合理范围内（不晚于核查月份月底）",
    "in_set": "“{col}”取值在规定范围内",
    "pattern": "“{col}”格式正确",
    "unique": "“{col}”不重复",
    "one_head": "每户有且只有一名户主",
    "has_beneficiary": "每户至少有一名保障对象",
    "member_household_exists": "成员的“{col}”在低保户名册中",
    "quarantine_share": "无法使用的行（隔离）比例不超标",
    "row_count_shrink": "行数较上次运行减少不超过规定比例",
    "row_count_growth": "行数较上次运行增加不超过规定比例",
    "blank_id_drift": "“{col}”空白比例较上次运行上升不超过规定值",
    "invalid_id_drift": "“{col}”无效比例较上次运行上升不超过规定值",
}
_SHARE = re.compile(r"^([\d.]+%) \((\d+) of (\d+)\)$")


def extract_title(extract: str) -> str:
    e = EXTRACTS.get(extract)
    return f"{e.title}（{extract}）" if e else extract


def check_text(extract: str, expectation: str) -> str:
    kind, _, column = expectation.partition(":")
    template = CHECKS.get(kind)
    if template is None:
        return expectation
    e = EXTRACTS.get(extract)
    col = column
    if e and column:
        try:
            col = e.column(column).chinese
        except KeyError:
            pass
    return template.format(col=col)


def observed_text(observed: str | None) -> str:
    m = _SHARE.match(observed or "")
    if m:
        return f"{m.group(3)} 行中 {m.group(2)} 行不符（{m.group(1)}）"
    return redact_ids(observed)


def details_text(details: str | None) -> str:
    """Example rows from the JSON details, masked; never the JSON itself."""
    try:
        data = json.loads(details or "{}")
    except ValueError:
        return redact_ids(details)
    examples = data.get("examples") if isinstance(data, dict) else None
    if not examples:
        return ""
    shown = []
    for ex in examples[:3]:
        if isinstance(ex, dict):
            where = f"{ex.get('_source_file', '')} 第{ex.get('_row_number', '?')}行"
            value = ex.get("value")
            shown.append(f"{where}：{redact_ids(str(value))}" if value not in (None, "") else where)
    return "例：" + "；".join(shown)
