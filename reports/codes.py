"""Code values a caseworker cannot read, put into words for the workbooks.

- GA 24.4 vehicle classes (公安部《机动车类型 术语和定义》): `VEHICLE_TYPES`, by the whole
  code, else by its class letter.
- Administrative area codes (GB/T 2260): `reports.area_codes.AREA_CODES`, a maintained
  table: provinces in full, and the prefectures and districts the city's extracts name.
  Looked up by the 6-digit code, else its prefecture (4 digits + 00), else its province.
  Add a line when a new code shows up (a code not found is shown as it is).

`display_evidence(rule, text)` is what every workbook shows of a finding's evidence: IDs
masked (`reports.common.redact_ids`), vehicle classes and insured places named, and for X03
no birth date taken from the ID (the masked ID hides it; the evidence must not give it back).
"""

from __future__ import annotations

import re

from reports.area_codes import AREA_CODES
from reports.common import redact_ids

VEHICLE_CLASSES: dict[str, str] = {
    "K": "载客汽车", "H": "载货汽车", "Q": "牵引车", "Z": "专项作业车", "D": "电车", "M": "摩托车",
    "N": "三轮汽车", "T": "拖拉机", "J": "轮式专用机械车", "G": "全挂车", "B": "半挂车", "X": "其他",
}
VEHICLE_TYPES: dict[str, str] = {
    "K11": "大型普通客车", "K12": "大型双层客车", "K13": "大型卧铺客车", "K14": "大型铰接客车", "K15": "大型越野客车",
    "K16": "大型轿车", "K17": "大型专用客车",
    "K21": "中型普通客车", "K22": "中型双层客车", "K23": "中型卧铺客车", "K24": "中型铰接客车", "K25": "中型越野客车",
    "K27": "中型专用客车",
    "K31": "小型普通客车", "K32": "小型越野客车", "K33": "小型轿车", "K34": "小型专用客车", "K38": "小型面包车",
    "K41": "微型普通客车", "K42": "微型越野客车", "K43": "微型轿车", "K49": "微型面包车",
    "H11": "重型普通货车", "H12": "重型厢式货车", "H13": "重型封闭货车", "H14": "重型罐式货车", "H15": "重型平板货车",
    "H16": "重型集装厢车", "H17": "重型自卸货车", "H18": "重型特殊结构货车", "H19": "重型仓栅式货车",
    "H21": "中型普通货车", "H22": "中型厢式货车", "H23": "中型封闭货车", "H24": "中型罐式货车", "H25": "中型平板货车",
    "H26": "中型集装厢车", "H27": "中型自卸货车", "H28": "中型特殊结构货车", "H29": "中型仓栅式货车",
    "H31": "轻型普通货车", "H32": "轻型厢式货车", "H33": "轻型封闭货车", "H34": "轻型罐式货车", "H35": "轻型平板货车",
    "H37": "轻型自卸货车", "H38": "轻型特殊结构货车", "H39": "轻型仓栅式货车",
    "H41": "微型普通货车", "H42": "微型厢式货车", "H43": "微型封闭货车", "H44": "微型罐式货车", "H45": "微型自卸货车",
    "H46": "微型特殊结构货车", "H47": "微型仓栅式货车",
    "H51": "普通低速货车", "H52": "厢式低速货车", "H53": "罐式低速货车", "H54": "自卸低速货车", "H55": "仓栅式低速货车",
    "Q11": "重型半挂牵引车", "Q12": "重型全挂牵引车", "Q21": "中型半挂牵引车", "Q22": "中型全挂牵引车",
    "Q31": "轻型半挂牵引车", "Q32": "轻型全挂牵引车",
    "Z11": "大型专项作业车", "Z21": "中型专项作业车", "Z31": "小型专项作业车", "Z41": "微型专项作业车",
    "Z51": "重型专项作业车", "Z71": "轻型专项作业车",
    "M11": "普通正三轮摩托车", "M12": "轻便正三轮摩托车", "M13": "正三轮载客摩托车", "M14": "正三轮载货摩托车",
    "M15": "侧三轮摩托车", "M21": "普通二轮摩托车", "M22": "轻便二轮摩托车",
    "N11": "三轮汽车",
    "T11": "大型轮式拖拉机", "T21": "小型轮式拖拉机", "T22": "手扶拖拉机", "T23": "手扶变形运输机",
}
_VEHICLE = re.compile(r"(车辆类型\s*)([A-Z][0-9A-Z]{2})(?![0-9A-Z（(])")
_PLACE = re.compile(r"(参保地\s*)(\d{6})(?![0-9（(])")
_X03_DATE = re.compile(r"出生日期(?:\d{8}|\*{8})不存在")  # `redact_ids` may have hidden the digits already


def vehicle_type(code: str) -> str:
    code = code.strip().upper()
    return VEHICLE_TYPES.get(code) or VEHICLE_CLASSES.get(code[:1], "")


def place(code: str) -> str:
    """The place of a 6-digit area code: the district if listed, else its prefecture, else its province."""
    for key in (code, code[:4] + "00", code[:2] + "0000"):
        if key in AREA_CODES:
            return AREA_CODES[key]
    return ""


def _named(match: re.Match, name: str) -> str:
    return f"{match.group(1)}{match.group(2)}（{name}）" if name else match.group(0)


def display_evidence(rule: str, text: str | None) -> str:
    """The evidence as a workbook shows it (see the module docstring)."""
    out = redact_ids(text)
    if rule == "X03":
        out = _X03_DATE.sub("出生日期不存在（请核对身份证原件）", out)
    out = _VEHICLE.sub(lambda m: _named(m, vehicle_type(m.group(2))), out)
    return _PLACE.sub(lambda m: _named(m, place(m.group(2))), out)
