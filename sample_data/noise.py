"""How clerks mistype IDs and names, one value at a time and vectorised.

ID noise kinds (the answers' `id_noise`):
  none, fullwidth, lowercase_x, spaces, id15 — the same ID once normalised ("clean");
  typo (one digit changed), swap (two adjacent different digits swapped) — "noisy";
  blank — no ID at all (the match can only be `possible`).
Name noise kinds (`name_noise`): none, homophone (equal toneless pinyin), traditional,
spaces, fullwidth (an ideographic space), dots (another middle-dot character).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from matching.ids import normalize

ID_KINDS = ("none", "fullwidth", "lowercase_x", "spaces", "id15", "typo", "swap", "blank")
CLEAN_ID_KINDS = ("none", "fullwidth", "lowercase_x", "spaces", "id15")
NOISY_ID_KINDS = ("typo", "swap")
NAME_KINDS = ("none", "homophone", "traditional", "spaces", "fullwidth", "dots")
# Least noisy first: a key supported by several records reports the first of these. The
# stress profile's kinds (`stress_noise.py`) come after the realistic ones, before blank.
ID_NOISE_ORDER = ("none", "spaces", "fullwidth", "lowercase_x", "id15", "swap", "typo", "roster_typo", "typo2",
                  "id15_typo", "blank")

# Character pairs with equal toneless pinyin (checked in tests with matching.names.pinyin).
HOMOPHONES: dict[str, str] = {
    "张": "章", "章": "张", "刘": "柳", "林": "琳", "琳": "林", "李": "黎", "杨": "阳", "伟": "玮",
    "静": "晶", "娜": "纳", "芳": "方", "敏": "民", "丽": "莉", "玲": "铃", "萍": "平", "婷": "亭",
    "军": "君", "涛": "韬", "杰": "洁", "明": "鸣", "红": "宏", "华": "桦", "燕": "艳", "周": "舟",
    "吴": "武", "徐": "许", "胡": "湖", "朱": "珠", "何": "河",
}
# Simplified -> traditional (checked in tests against OpenCC t2s).
TRADITIONAL: dict[str, str] = dict((pair[0], pair[1]) for pair in (
    "陈陳 张張 刘劉 黄黃 赵趙 吴吳 杨楊 郑鄭 孙孫 马馬 罗羅 许許 邓鄧 冯馮 韩韓 叶葉 苏蘇 吕呂 卢盧 钟鍾 "
    "陆陸 龚龔 伟偉 丽麗 军軍 华華 兰蘭 国國 红紅 静靜 强強 龙龍 凤鳳 东東 飞飛 长長 贵貴 凯凱 "
    "涛濤 鹏鵬 辉輝 刚剛 杰傑 艳艷 洁潔 颖穎 卫衛 晓曉 轩軒 谢謝 汤湯 阳陽"
).split())
DOT_VARIANTS = ("•", "・", ".", "．")
_FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
_ID_WEIGHTS: dict[str, float] = {"fullwidth": 2, "lowercase_x": 2, "spaces": 3, "id15": 2, "typo": 2, "swap": 2, "blank": 1}
_NAME_WEIGHTS: dict[str, float] = {"homophone": 3, "traditional": 3, "spaces": 3, "fullwidth": 1, "dots": 2}


# ---- one value -----------------------------------------------------------------------------

def homophone_of(name: str) -> str | None:
    """The name with its first replaceable character swapped for a homophone, or None."""
    for i, ch in enumerate(name):
        if ch in HOMOPHONES:
            return name[:i] + HOMOPHONES[ch] + name[i + 1:]
    return None


def traditional_of(name: str) -> str | None:
    out = "".join(TRADITIONAL.get(ch, ch) for ch in name)
    return out if out != name else None


def id_kinds_for(id18: str) -> list[str]:
    """The ID noise kinds that make sense for this ID."""
    kinds = ["fullwidth", "spaces", "typo", "swap", "blank"]
    if id18.endswith("X"):
        kinds.append("lowercase_x")
    if _old_enough_for_id15(id18):
        kinds.append("id15")
    return kinds


def _old_enough_for_id15(id18: str) -> bool:
    """15-digit IDs (1984-1999) are still carried by people who got them as adults: born by 1980."""
    return "1900" <= id18[6:10] <= "1980"


def name_kinds_for(name: str) -> list[str]:
    kinds = ["spaces", "fullwidth"]
    if homophone_of(name) is not None:
        kinds.append("homophone")
    if traditional_of(name) is not None:
        kinds.append("traditional")
    if "·" in name:
        kinds.append("dots")
    return kinds


def apply_id(id18: str, kind: str, rng: np.random.Generator) -> str:
    if kind == "none":
        return id18
    if kind == "blank":
        return ""
    if kind == "fullwidth":
        return id18.translate(_FULLWIDTH)
    if kind == "lowercase_x":
        return id18.lower()
    if kind == "spaces":
        style = int(rng.integers(3))
        if style == 0:
            return f"{id18[:6]} {id18[6:14]} {id18[14:]}"
        if style == 1:
            return f"{id18[:6]}-{id18[6:14]}-{id18[14:]}"
        return f" {id18[:10]} {id18[10:]} "
    if kind == "id15":
        return id18[:6] + id18[8:17]
    if kind == "typo":
        while True:
            pos = int(rng.integers(18))
            old = id18[pos]
            new = str((int(old) + int(rng.integers(1, 10))) % 10) if old != "X" else str(rng.integers(10))
            out = id18[:pos] + new + id18[pos + 1:]
            if out != id18 and not normalize(out).is_valid:
                return out
    if kind == "swap":
        while True:
            pos = int(rng.integers(16))
            if id18[pos] != id18[pos + 1]:
                out = id18[:pos] + id18[pos + 1] + id18[pos] + id18[pos + 2:]
                if not normalize(out).is_valid:
                    return out
    raise ValueError(f"unknown ID noise kind {kind!r}")


def apply_name(name: str, kind: str, rng: np.random.Generator) -> str:
    if kind == "none":
        return name
    if kind == "homophone":
        return homophone_of(name) or name
    if kind == "traditional":
        return traditional_of(name) or name
    if kind == "spaces":
        if "·" in name:
            return name.replace("·", " · ")
        return [f"{name[0]} {name[1:]}", f" {name}", f"{name} ", " ".join(name)][int(rng.integers(4))]
    if kind == "fullwidth":
        return f"{name[0]}\u3000{name[1:]}"
    if kind == "dots":
        return name.replace("·", DOT_VARIANTS[int(rng.integers(len(DOT_VARIANTS)))])
    raise ValueError(f"unknown name noise kind {kind!r}")


class NoiseDeck:
    """Chooses the noise of each (person, registry) identity, about one in four noisy.

    Every kind is used at least `quota` times early on, so that even a small sample
    has them all. The same person keeps one typed ID and name within one registry.
    """

    def __init__(self, rng: np.random.Generator, id_rate: float = 0.2, name_rate: float = 0.12,
                 quota: int = 3) -> None:
        self.rng = rng
        self.id_rate, self.name_rate, self.quota = id_rate, name_rate, quota
        self.counts: dict[str, int] = {}
        self.memo: dict[tuple[int, str], tuple[str, str, str, str]] = {}

    def _pick(self, kinds: list[str], weights: dict[str, float], rate: float, prefix: str) -> str:
        if not kinds:
            return "none"
        short = [k for k in kinds if self.counts.get(prefix + k, 0) < self.quota]
        if short and self.rng.random() < 0.35:
            kind = short[int(self.rng.integers(len(short)))]
        elif self.rng.random() < rate:
            w = np.array([weights[k] for k in kinds], dtype=float)
            kind = kinds[self.rng.choice(len(kinds), p=w / w.sum())]
        else:
            return "none"
        self.counts[prefix + kind] = self.counts.get(prefix + kind, 0) + 1
        return kind

    def typed(self, pid: int, registry: str, id18: str, name: str,
              id_allowed: tuple[str, ...] = ID_KINDS, name_noise: bool = True) -> tuple[str, str, str, str]:
        """(typed id, typed name, id_noise, name_noise) for this person in this registry."""
        key = (pid, registry)
        if key in self.memo:
            return self.memo[key]
        id_kind = self._pick([k for k in id_kinds_for(id18) if k in id_allowed], _ID_WEIGHTS, self.id_rate, "id:")
        name_kind = "none"
        if name_noise and id_kind not in ("typo", "swap", "blank"):
            name_kind = self._pick(name_kinds_for(name), _NAME_WEIGHTS, self.name_rate, "name:")
        out = (apply_id(id18, id_kind, self.rng), apply_name(name, name_kind, self.rng), id_kind, name_kind)
        self.memo[key] = out
        return out


# ---- vectorised, for the background population ---------------------------------------------------

_FW_DIGITS = [str(d) for d in range(10)] + ["X"]
_FW_REPL = ["０１２３４５６７８９Ｘ"[i] for i in range(11)]


def noisy_identities(df: pl.DataFrame, rng: np.random.Generator, rate: float = 0.25) -> pl.DataFrame:
    """Typed `id_number`/`name` for one row per person (columns id18, name); about `rate` noisy."""
    n = df.height
    id_kind = rng.choice(8, size=n, p=_vector_p(rate * 0.7))
    name_kind = np.where(rng.random(n) < rate * 0.4, rng.integers(1, 5, size=n), 0)
    pos = rng.integers(0, 17, size=n)
    delta = rng.integers(1, 10, size=n)
    out = df.with_columns(
        pl.Series("_k", id_kind, dtype=pl.Int8), pl.Series("_nk", name_kind, dtype=pl.Int8),
        pl.Series("_p", pos, dtype=pl.Int64), pl.Series("_d", delta, dtype=pl.Int64),
    )
    idc, p = pl.col("id18"), pl.col("_p")
    digit = idc.str.slice(p, 1)
    typo_digit = ((digit.cast(pl.Int64, strict=False).fill_null(0) + pl.col("_d")) % 10).cast(pl.Utf8)
    swapped = pl.concat_str(idc.str.slice(0, p), idc.str.slice(p + 1, 1), idc.str.slice(p, 1), idc.str.slice(p + 2))
    born19 = idc.str.slice(6, 4).is_between(pl.lit("1900"), pl.lit("1980"))
    typed_id = (
        pl.when(pl.col("_k") == 1).then(idc.str.replace_many(_FW_DIGITS, _FW_REPL))
        .when(pl.col("_k") == 2).then(idc.str.to_lowercase())
        .when(pl.col("_k") == 3).then(pl.concat_str(idc.str.slice(0, 6), pl.lit(" "), idc.str.slice(6, 8),
                                                    pl.lit(" "), idc.str.slice(14)))
        .when((pl.col("_k") == 4) & born19).then(pl.concat_str(idc.str.slice(0, 6), idc.str.slice(8, 9)))
        .when(pl.col("_k") == 5).then(pl.concat_str(idc.str.slice(0, p), typo_digit, idc.str.slice(p + 1)))
        .when(pl.col("_k") == 6).then(swapped)
        .when(pl.col("_k") == 7).then(pl.lit(""))
        .otherwise(idc)
    )
    nm = pl.col("name")
    typed_name = (
        pl.when(pl.col("_nk") == 1).then(nm.str.replace_many(list(TRADITIONAL), list(TRADITIONAL.values())))
        .when(pl.col("_nk") == 2).then(pl.concat_str(nm.str.slice(0, 1), pl.lit(" "), nm.str.slice(1)))
        .when(pl.col("_nk") == 3).then(pl.concat_str(nm.str.slice(0, 1), pl.lit("\u3000"), nm.str.slice(1)))
        .when(pl.col("_nk") == 4).then(nm.str.slice(0, 1).replace(_HOMO_FIRST) + nm.str.slice(1))
        .otherwise(nm)
    )
    return out.with_columns(typed_id.alias("id_number"), typed_name.alias("name_typed")).drop("_k", "_nk", "_p", "_d")


_HOMO_FIRST = {k: v for k, v in HOMOPHONES.items()}


def _vector_p(rate: float) -> np.ndarray:
    w = np.array([0, 2, 1, 3, 2, 2, 2, 1], dtype=float)
    w = w / w.sum() * rate
    w[0] = 1 - rate
    return w
