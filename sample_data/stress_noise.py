"""The stress profile's typing slips, one value at a time, and the deck that deals them.

Beyond the realistic kinds (`noise.py`) clerks and scanners make these, each marked in
the answers' `id_noise` / `name_noise`:
  id_noise   id15_typo (an old 15-digit ID, one digit mistyped: nothing can detect it),
             typo2 (two digits mistyped; one time in eleven the check character still fits),
             roster_typo (the roster's own ID has one digit wrong; the registry's is right);
  name_noise lookalike_char (one character replaced by a 形近字 that reads differently),
             separator_dropped (买买提·艾力 typed 买买提艾力), separator_variant (﹒, space, ・, •, .),
             compound_surname (欧阳 typed as 欧 or 阳), surname_reading (曾 zēng typed 增, 单 shàn
             typed 善), char_missing / char_extra (a given-name character dropped or doubled).
`homophone` here draws on this module's own table as well as `noise.HOMOPHONES`.

The look-alike table (`LOOKALIKES`) was written for this module from common misreadings of
handwriting, scans and stroke or Wubi input, without any character-shape library and
without reading the linkage code, so that the stress evaluation stays independent of
whatever the engine uses.
"""

from __future__ import annotations

import numpy as np

from sample_data import noise

# ---- tables ------------------------------------------------------------------------------------


def _pairs(text: str) -> dict[str, tuple[str, ...]]:
    """'甲乙 丙丁' -> {甲: (乙,), 乙: (甲,), ...}: each pair misread both ways."""
    out: dict[str, list[str]] = {}
    for pair in text.split():
        a, b = pair[0], pair[1]
        out.setdefault(a, []).append(b)
        out.setdefault(b, []).append(a)
    return {k: tuple(v) for k, v in out.items()}


# 形近字: alike in shape, read differently (tests check the readings differ).
LOOKALIKES = _pairs(
    "未末 己已 栗粟 拔拨 王玉 王壬 李季 陈阵 吴昊 徐涂 马乌 鸟乌 郑邓 宋宗 唐康 曹曾 田由 田甲 "
    "袁哀 余佘 蔡祭 杜社 任仕 沈沉 姚桃 卢户 汪注 江汪 范苑 金全 石右 夏复 方万 熊能 雷雪 章竟 "
    "明朋 超起 赵起 平半 平乎 华毕 波泼 宇字 宇宁 浩洁 建延 国固 文丈 海梅 海悔 晓烧 子孑 兵丘 "
    "兵乒 生主 民氏 庆厌 玲珍 丹舟 英荚 桂佳 倩债 怡恰 雨两 春舂 晶品 美姜 东车 娜挪 淑椒 鑫森 "
    "轩轨 航舫 家冢 高亭 贺资 许浒 龚袭 喻偷 杨汤 依侬 古吉 力刀 人入 大太 土士 贝见 免兔 小少"
)
# Homophones (equal toneless pinyin) beyond noise.HOMOPHONES, for names typed by ear.
HOMOPHONES: dict[str, str] = {**noise.HOMOPHONES, **dict((pair[0], pair[1]) for pair in (
    "王汪 陈晨 黄皇 赵照 马玛 郭国 罗萝 郑正 梁良 宋送 唐堂 韩寒 冯逢 邓登 田甜 董懂 袁元 潘攀 "
    "余于 蔡菜 杜度 程成 魏卫 沈审 姚尧 卢芦 钟忠 范凡 金今 石时 方芳 强墙 勇永 超潮 刚钢 辉晖 "
    "飞菲 斌彬 宇雨 凯楷 俊骏 建健 文雯 东冬 兵冰 新欣 民敏 秀绣 英鹰 兰蓝 霞侠 雪薛 慧惠 颖影 "
    "梅玫 珍真 春纯 琴勤"
).split())}
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "司徒", "东方", "皇甫", "令狐", "夏侯", "公孙")
# Surname -> (its reading as a surname, characters with that reading a clerk types by ear).
SURNAME_READINGS: dict[str, tuple[str, str]] = {
    "曾": ("zeng", "增"), "单": ("shan", "善山"), "解": ("xie", "谢"), "仇": ("qiu", "裘求"), "区": ("ou", "欧"),
}
SEPARATORS = ("﹒", " ", "・", "•", ".")  # for the middle dot of 买买提·艾力
_EXTRA_CHARS = "小文建国"  # a remembered-wrong middle character: 王伟 -> 王小伟

# ---- kinds and rates ---------------------------------------------------------------------------

ROSTER_TYPO = "roster_typo"
STRESS_ID_KINDS = ("id15_typo", "typo2")
ID_KINDS = (*noise.ID_KINDS, *STRESS_ID_KINDS, ROSTER_TYPO)
NOISY_ID_KINDS = (*noise.NOISY_ID_KINDS, *STRESS_ID_KINDS)
STRESS_NAME_KINDS = ("lookalike_char", "separator_dropped", "separator_variant", "compound_surname",
                     "surname_reading", "char_missing", "char_extra")
NAME_KINDS = (*noise.NAME_KINDS, *STRESS_NAME_KINDS)
COMBINED_NAME_KINDS = ("homophone", "traditional")  # typed by ear or from an old form, with a mistyped ID

# Chosen before any run of the matcher, not tuned against it. A registry keyed in from paper
# (old pension files, death certificates, handwritten applications) has more slips than the
# realistic deck's one ID in five and one name in eight: one ID in four and one name in six
# here, and of the identities with a mistyped ID, three in ten have a slipped name too.
ID_RATE, NAME_RATE, COMBINED_RATE = 0.25, 0.18, 0.3
_ID_WEIGHTS: dict[str, float] = {"fullwidth": 2, "lowercase_x": 2, "spaces": 3, "id15": 3, "typo": 2,
                                 "swap": 2, "blank": 1, "id15_typo": 2, "typo2": 1}
_NAME_WEIGHTS: dict[str, float] = {"homophone": 3, "traditional": 2, "spaces": 2, "fullwidth": 1, "dots": 1,
                                   "lookalike_char": 3, "separator_dropped": 4, "separator_variant": 2,
                                   "compound_surname": 4, "surname_reading": 4, "char_missing": 1,
                                   "char_extra": 1}

# ---- IDs (GB 11643, written here rather than taken from the engine) ------------------------------

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def passes_check(text: str) -> bool:
    """An 18-character ID whose check character fits (the date is not examined)."""
    return len(text) == 18 and text[:17].isdigit() and text[17].upper() == check_character(text[:17])


def id15_of(id18: str) -> str:
    return id18[:6] + id18[8:17]


def id18_of(id15: str) -> str:
    """The 18-character form of a 15-digit ID (born 19xx): what converting it computes."""
    first17 = id15[:6] + "19" + id15[6:]
    return first17 + check_character(first17)


def with_typo(text: str, rng: np.random.Generator, positions: int = 1) -> str:
    """`text` with `positions` distinct characters changed to other digits."""
    chars = list(text)
    for pos in rng.choice(len(text), size=positions, replace=False):
        old = chars[int(pos)]
        chars[int(pos)] = str((int(old) + int(rng.integers(1, 10))) % 10) if old.isdigit() else str(rng.integers(10))
    return "".join(chars)


def id_kinds_for(id18: str) -> list[str]:
    kinds = [*noise.id_kinds_for(id18), "typo2"]
    if "id15" in kinds:
        kinds.append("id15_typo")
    return kinds


def apply_id(id18: str, kind: str, rng: np.random.Generator) -> str:
    if kind == "id15_typo":
        return with_typo(id15_of(id18), rng)
    if kind == "typo2":
        return with_typo(id18, rng, positions=2)
    if kind == ROSTER_TYPO:  # the registry is right; the roster carries the slip
        return id18
    return noise.apply_id(id18, kind, rng)


# ---- names ---------------------------------------------------------------------------------------

def _surname_length(name: str) -> int:
    return 2 if name[:2] in COMPOUND_SURNAMES else 1


def _replace_one(name: str, table: dict, rng: np.random.Generator) -> str | None:
    spots = [i for i, ch in enumerate(name) if ch in table]
    if not spots:
        return None
    i = spots[int(rng.integers(len(spots)))]
    options = table[name[i]]
    new = options[int(rng.integers(len(options)))] if isinstance(options, tuple) else options
    return name[:i] + new + name[i + 1:]


def name_kinds_for(name: str) -> list[str]:
    kinds = [k for k in noise.name_kinds_for(name) if k != "homophone"]
    if any(ch in HOMOPHONES for ch in name):
        kinds.append("homophone")
    if any(ch in LOOKALIKES for ch in name):
        kinds.append("lookalike_char")
    if "·" in name:
        return [*kinds, "separator_dropped", "separator_variant"]
    sur = _surname_length(name)
    if sur == 2:
        kinds.append("compound_surname")
    elif name[0] in SURNAME_READINGS:
        kinds.append("surname_reading")
    if len(name) - sur >= 2:
        kinds.append("char_missing")
    if len(name) <= 3:
        kinds.append("char_extra")
    return kinds


def apply_name(name: str, kind: str, rng: np.random.Generator) -> str:
    if kind == "lookalike_char":
        return _replace_one(name, LOOKALIKES, rng) or name
    if kind == "homophone":
        return _replace_one(name, HOMOPHONES, rng) or name
    if kind == "separator_dropped":
        return name.replace("·", "")
    if kind == "separator_variant":
        return name.replace("·", SEPARATORS[int(rng.integers(len(SEPARATORS)))])
    if kind == "compound_surname":  # mostly the second character lost (欧阳娜 -> 欧娜), sometimes the first
        return name[0] + name[2:] if rng.random() < 0.75 else name[1:]
    if kind == "surname_reading":
        typed = SURNAME_READINGS[name[0]][1]
        return typed[int(rng.integers(len(typed)))] + name[1:]
    sur = _surname_length(name)
    if kind == "char_missing":
        drop = sur + int(rng.integers(len(name) - sur))
        return name[:drop] + name[drop + 1:]
    if kind == "char_extra":  # a doubled keystroke, or a remembered-wrong middle character
        if rng.random() < 0.5:
            return name + name[-1]
        return name[:sur] + _EXTRA_CHARS[int(rng.integers(len(_EXTRA_CHARS)))] + name[sur:]
    return noise.apply_name(name, kind, rng)


# ---- the deck ------------------------------------------------------------------------------------

class StressDeck(noise.NoiseDeck):
    """The realistic deck's bookkeeping with the stress kinds and rates; an ID and a name slip
    may come together. `force` types an identity with given kinds (for the planted classes)."""

    def __init__(self, rng: np.random.Generator, quota: int = 3) -> None:
        super().__init__(rng, ID_RATE, NAME_RATE, quota)

    def typed(self, pid: int, registry: str, id18: str, name: str,
              id_allowed: tuple[str, ...] = noise.ID_KINDS, name_noise: bool = True) -> tuple[str, str, str, str]:
        key = (pid, registry)
        if key in self.memo:
            return self.memo[key]
        allowed = set(id_allowed)
        if set(noise.NOISY_ID_KINDS) <= allowed:  # where a mistyped ID may stand, so may the harder ones
            allowed.update(STRESS_ID_KINDS)
        id_kind = self._pick([k for k in id_kinds_for(id18) if k in allowed], _ID_WEIGHTS, self.id_rate, "id:")
        name_kind = "none"
        if name_noise and id_kind in NOISY_ID_KINDS:
            if self.rng.random() < COMBINED_RATE:
                kinds = [k for k in name_kinds_for(name) if k in COMBINED_NAME_KINDS]
                name_kind = self._pick(kinds, _NAME_WEIGHTS, 1.0, "name+id:")
        elif name_noise and id_kind != "blank":
            name_kind = self._pick(name_kinds_for(name), _NAME_WEIGHTS, self.name_rate, "name:")
        return self.force(pid, registry, id18, name, id_kind, name_kind)

    def force(self, pid: int, registry: str, id18: str, name: str, id_kind: str,
              name_kind: str) -> tuple[str, str, str, str]:
        """(typed id, typed name, id_kind, name_kind), kept as this person's identity in `registry`."""
        out = (apply_id(id18, id_kind, self.rng), apply_name(name, name_kind, self.rng), id_kind, name_kind)
        self.memo[(pid, registry)] = out
        return out
