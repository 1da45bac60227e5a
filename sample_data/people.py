"""Names, resident IDs and dates for generated people, one at a time and vectorised.

Surnames are drawn by their real frequency and given names from a short,
Zipf-weighted list, so that common names (王伟, 张伟, 李娜) repeat a lot. A few
people carry minority names with a middle dot (买买提·艾力). IDs are built with
`matching.ids.make_id` (one at a time) or `ids_vectorised` (the same ISO 7064
MOD 11-2 check character, computed with numpy, for the background population).
"""

from __future__ import annotations

import calendar
import datetime as dt

import numpy as np
import polars as pl

from matching.ids import make_id

SURNAMES: tuple[tuple[str, float], ...] = (
    ("王", 7.1), ("李", 7.0), ("张", 6.8), ("刘", 5.4), ("陈", 4.5), ("杨", 3.2), ("黄", 2.2), ("赵", 2.1),
    ("吴", 2.0), ("周", 1.9), ("徐", 1.7), ("孙", 1.5), ("马", 1.5), ("朱", 1.3), ("胡", 1.3), ("郭", 1.2),
    ("何", 1.2), ("高", 1.1), ("林", 1.1), ("罗", 1.0), ("郑", 1.0), ("梁", 0.9), ("谢", 0.8), ("宋", 0.8),
    ("唐", 0.7), ("许", 0.7), ("韩", 0.7), ("冯", 0.7), ("邓", 0.7), ("曹", 0.6), ("彭", 0.6), ("曾", 0.6),
    ("肖", 0.6), ("田", 0.5), ("董", 0.5), ("袁", 0.5), ("潘", 0.5), ("余", 0.5), ("蒋", 0.5), ("蔡", 0.5),
    ("杜", 0.5), ("叶", 0.4), ("程", 0.4), ("苏", 0.4), ("魏", 0.4), ("吕", 0.4), ("丁", 0.4), ("任", 0.4),
    ("沈", 0.4), ("姚", 0.4), ("卢", 0.4), ("姜", 0.3), ("钟", 0.3), ("谭", 0.3), ("陆", 0.3), ("汪", 0.3),
    ("范", 0.3), ("金", 0.3), ("石", 0.3), ("廖", 0.3), ("夏", 0.3), ("付", 0.3), ("方", 0.3), ("邹", 0.3),
    ("熊", 0.4), ("万", 0.3), ("雷", 0.2), ("龚", 0.2), ("黎", 0.2), ("陶", 0.2), ("贺", 0.2), ("章", 0.1),
    ("柳", 0.1), ("喻", 0.1), ("阮", 0.1),
)
GIVEN_MALE: tuple[tuple[str, float], ...] = (
    ("伟", 30), ("强", 12), ("磊", 12), ("军", 12), ("勇", 10), ("杰", 10), ("涛", 9), ("明", 8), ("超", 8),
    ("刚", 7), ("平", 7), ("辉", 6), ("鹏", 6), ("华", 6), ("飞", 5), ("鑫", 5), ("波", 5), ("斌", 5),
    ("宇", 5), ("浩", 5), ("凯", 4), ("健", 4), ("俊", 4), ("帆", 4), ("建华", 6), ("建国", 5), ("国强", 4),
    ("志强", 4), ("志明", 3), ("文斌", 3), ("海涛", 3), ("晓东", 3), ("俊杰", 3), ("子轩", 3), ("浩然", 3),
    ("宇航", 2), ("明辉", 2), ("建军", 4), ("永刚", 2), ("德明", 2), ("家豪", 2), ("红兵", 2), ("卫东", 2),
    ("长江", 2), ("汉生", 1), ("新民", 1), ("庆华", 1), ("林", 2), ("龙", 2), ("东", 2),
)
GIVEN_FEMALE: tuple[tuple[str, float], ...] = (
    ("娜", 20), ("芳", 20), ("敏", 15), ("静", 15), ("丽", 14), ("艳", 12), ("娟", 10), ("霞", 9),
    ("秀英", 12), ("秀兰", 8), ("桂英", 8), ("玉兰", 6), ("燕", 8), ("丹", 7), ("萍", 7), ("玲", 7),
    ("琳", 5), ("婷", 6), ("雪", 5), ("洁", 5), ("慧", 5), ("颖", 4), ("倩", 4), ("红", 6), ("红梅", 4),
    ("海燕", 4), ("丽娟", 4), ("晓燕", 3), ("欣怡", 3), ("梓涵", 3), ("雨欣", 3), ("淑珍", 3), ("凤英", 3),
    ("春兰", 3), ("晶", 4), ("莉", 4), ("琴", 4), ("丽华", 2), ("美玲", 2), ("小红", 2),
)
MINORITY_GIVEN = ("买买提", "艾力", "阿不都", "吐尔逊", "热合曼", "玉素甫", "依明", "麦麦提", "艾买提", "努尔")
MINORITY_GIVEN_F = ("阿依古丽", "古丽米拉", "热依拉", "帕提古丽", "迪丽娜尔", "阿依努尔")
MINORITY_SHARE = 0.01

_WEIGHTS_17 = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
_CHECK_CHARS = np.array(list("10X98765432"))


def _table(pairs):
    names = [p[0] for p in pairs]
    w = np.array([p[1] for p in pairs], dtype=float)
    return names, w / w.sum()


_SUR, _SUR_P = _table(SURNAMES)
_GM, _GM_P = _table(GIVEN_MALE)
_GF, _GF_P = _table(GIVEN_FEMALE)


def random_name(rng: np.random.Generator, male: bool) -> str:
    if rng.random() < MINORITY_SHARE:
        return minority_name(rng, male)
    return random_surname(rng) + random_given(rng, male)


def minority_name(rng: np.random.Generator, male: bool, father: str | None = None) -> str:
    """A Uyghur-style name: own given name, a middle dot, the father's given name."""
    first = MINORITY_GIVEN[rng.integers(len(MINORITY_GIVEN))] if male else \
        MINORITY_GIVEN_F[rng.integers(len(MINORITY_GIVEN_F))]
    return f"{first}·{father or MINORITY_GIVEN[rng.integers(len(MINORITY_GIVEN))]}"


def random_surname(rng: np.random.Generator) -> str:
    return _SUR[rng.choice(len(_SUR), p=_SUR_P)]


def random_given(rng: np.random.Generator, male: bool) -> str:
    names, p = (_GM, _GM_P) if male else (_GF, _GF_P)
    return names[rng.choice(len(names), p=p)]


def names_vectorised(rng: np.random.Generator, male: np.ndarray) -> pl.Series:
    """One name per person; the same frequency tables as `random_name`."""
    n = len(male)
    sur = np.array(_SUR)[rng.choice(len(_SUR), size=n, p=_SUR_P)]
    gm = np.array(_GM)[rng.choice(len(_GM), size=n, p=_GM_P)]
    gf = np.array(_GF)[rng.choice(len(_GF), size=n, p=_GF_P)]
    given = np.where(male, gm, gf)
    names = pl.Series("name", np.char.add(sur, given), dtype=pl.Utf8)
    minority = rng.random(n) < MINORITY_SHARE
    if minority.any():
        k = int(minority.sum())
        first = np.array(MINORITY_GIVEN)[rng.integers(len(MINORITY_GIVEN), size=k)]
        second = np.array(MINORITY_GIVEN)[rng.integers(len(MINORITY_GIVEN), size=k)]
        names = names.scatter(np.nonzero(minority)[0], pl.Series(np.char.add(np.char.add(first, "·"), second)))
    return names


def sequence_for(rng: np.random.Generator, male: bool) -> int:
    """3-digit sequence code: odd for men, even for women."""
    return int(rng.integers(0, 500)) * 2 + (1 if male else 0)


def new_id(rng: np.random.Generator, area: str, born: dt.date, male: bool, used: set[str]) -> str:
    """A valid ID not yet in `used` (which it is added to)."""
    for _ in range(1000):
        text = make_id(area, born, sequence_for(rng, male))
        if text not in used:
            used.add(text)
            return text
    raise RuntimeError(f"no free ID sequence for {area} {born}")


def ids_vectorised(area: np.ndarray, ymd: np.ndarray, seq: np.ndarray) -> pl.Series:
    """Valid 18-character IDs from integer area codes, yyyymmdd birth dates and sequences."""
    first17 = area.astype(np.int64) * 10**11 + ymd.astype(np.int64) * 1000 + seq.astype(np.int64)
    total = np.zeros(len(first17), dtype=np.int64)
    rest = first17.copy()
    for i in range(16, -1, -1):
        total += (rest % 10) * _WEIGHTS_17[i]
        rest //= 10
    check = _CHECK_CHARS[total % 11]
    return pl.Series("id_number", np.char.add(first17.astype(str), check))


def ymd_of(days: np.ndarray) -> np.ndarray:
    """yyyymmdd integers from numpy datetime64[D] values."""
    y = days.astype("datetime64[Y]").astype(np.int64) + 1970
    m = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    return y * 10000 + m * 100 + d


# ---- dates and months -------------------------------------------------------------------------

def parse_month(month: str) -> tuple[int, int]:
    try:
        year, mon = (int(x) for x in month.split("-"))
        dt.date(year, mon, 1)
    except ValueError:
        raise ValueError(f"'month' must be YYYY-MM, got {month!r}") from None
    return year, mon


def last_day(year: int, mon: int) -> dt.date:
    return dt.date(year, mon, calendar.monthrange(year, mon)[1])


def month_index(d: dt.date) -> int:
    return d.year * 12 + d.month - 1


def month_date(index: int) -> dt.date:
    """The first day of month number `index` (year * 12 + month - 1)."""
    return dt.date(index // 12, index % 12 + 1, 1)


def years_before(d: dt.date, years: int) -> dt.date:
    """The same day and month `years` earlier (29 Feb falls back to 28 Feb)."""
    try:
        return d.replace(year=d.year - years)
    except ValueError:
        return d.replace(year=d.year - years, day=28)


def age_on(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def birth_for_age(rng: np.random.Generator, age: int, on: dt.date) -> dt.date:
    """A birth date giving exactly `age` full years on `on`."""
    latest = years_before(on, age)
    earliest = years_before(on, age + 1) + dt.timedelta(days=1)
    span = (latest - earliest).days
    return earliest + dt.timedelta(days=int(rng.integers(0, span + 1)))
