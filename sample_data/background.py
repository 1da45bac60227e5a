"""The background population and its registry rows, vectorised with numpy and polars.

Most registry rows in a real extract are about people who are not on the dibao
roster. They are generated here in bulk (no Python loop per row), so that a
bench-size run (about 20 million rows) stays fast. None of these people is a
roster member, so none of their rows is an answer.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from sample_data import people, places
from sample_data.noise import noisy_identities

_DAY0 = np.datetime64("1970-01-01", "D")


def _days(d: dt.date) -> np.datetime64:
    return np.datetime64(d.isoformat(), "D")


def population(rng: np.random.Generator, n: int, as_of: dt.date, exclude: set[str]) -> pl.DataFrame:
    """`n` people (fewer after removing ID collisions): pid, name, id18, born, age, male."""
    ages = np.arange(96)
    w = np.where(ages < 60, 1.0, np.maximum(0.05, 1.0 - (ages - 60) / 36))
    age = rng.choice(96, size=n, p=w / w.sum())
    born = _days(as_of) - (age * 365.25).astype(np.int64) - rng.integers(0, 365, size=n)
    born = np.minimum(born, _days(as_of))
    male = rng.random(n) < 0.5
    codes = np.array([int(a) for a, _ in places.BIRTH_AREAS])
    p = np.array([x for _, x in places.BIRTH_AREAS], dtype=float)
    area = codes[rng.choice(len(codes), size=n, p=p / p.sum())]
    seq = rng.integers(0, 500, size=n) * 2 + male
    ids = people.ids_vectorised(area, people.ymd_of(born), seq)
    ymd = people.ymd_of(born)
    as_of_ymd = as_of.year * 10000 + as_of.month * 100 + as_of.day
    df = pl.DataFrame({
        "id18": ids, "name": people.names_vectorised(rng, male),
        "born": pl.Series(born).cast(pl.Date), "male": male, "age": (as_of_ymd - ymd) // 10000,
    })
    df = df.filter(~pl.col("id18").is_in(sorted(exclude))).unique("id18", keep="first", maintain_order=True)
    return df.with_row_index("pid")


class Background:
    """Registry rows for the background population (one method per extract)."""

    def __init__(self, rng: np.random.Generator, pop: pl.DataFrame, as_of: dt.date, month_index: int,
                 history: int) -> None:
        self.rng, self.pop, self.as_of = rng, pop, as_of
        self.history = history
        self.month_dates = np.array([people.month_date(month_index - b).isoformat() for b in range(history)],
                                    dtype="datetime64[D]")
        self.age = pop["age"].to_numpy()
        self.male = pop["male"].to_numpy()

    # ---- helpers ----
    def _choose(self, mask: np.ndarray, prob: float) -> np.ndarray:
        return np.nonzero(mask & (self.rng.random(len(mask)) < prob))[0]

    def _people(self, idx: np.ndarray) -> pl.DataFrame:
        """One typed identity (id_number, name) per chosen person, noise applied per person."""
        sub = self.pop[idx].select("id18", "name")
        return noisy_identities(sub, self.rng).select(pl.col("name_typed").alias("name"), "id_number")

    def _monthly(self, idx: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, pl.Series]:
        """Rows for each (person, month) where `active` (len(idx) x history) is true."""
        person, back = np.nonzero(active)
        return person, pl.Series(self.month_dates[back]).cast(pl.Date)

    def _days_back(self, k: int, lo: int, hi: int) -> pl.Series:
        return pl.Series(_days(self.as_of) - self.rng.integers(lo, hi, size=k)).cast(pl.Date)

    def _pick(self, options: list[str], k: int, p: list[float] | None = None) -> np.ndarray:
        pr = None if p is None else np.array(p, dtype=float) / sum(p)
        return np.array(options)[self.rng.choice(len(options), size=k, p=pr)]

    # ---- extracts ----
    def deaths(self) -> pl.DataFrame:
        idx = np.concatenate([self._choose(self.age >= 60, 0.03), self._choose(self.age < 60, 0.001)])
        idx.sort()
        dates = _days(self.as_of) - self.rng.integers(0, 3 * 365, size=len(idx))
        late = self.rng.random(len(idx)) < 0.01
        dates = np.where(late, _days(self.as_of) + self.rng.integers(1, 10, size=len(idx)), dates)
        return self._people(idx).with_columns(pl.Series("death_date", dates).cast(pl.Date))

    def _payments(self, idx: np.ndarray, active: np.ndarray, amount: np.ndarray, month_col: str) -> pl.DataFrame:
        person, months = self._monthly(idx, active)
        ident = self._people(idx)[person]
        return ident.with_columns(months.alias(month_col), pl.Series("amount", amount[person], dtype=pl.Float64))

    def pensions(self) -> pl.DataFrame:
        idx = self._choose((self.age >= 60) | (~self.male & (self.age >= 55)), 0.75)
        start = np.where(self.rng.random(len(idx)) < 0.9, self.history,
                         self.rng.integers(1, self.history + 1, size=len(idx)))
        active = np.arange(self.history)[None, :] < start[:, None]
        amount = (self.rng.integers(150, 500, size=len(idx)) * 10).astype(float)
        return self._payments(idx, active, amount, "pay_month")

    def unemployment(self) -> pl.DataFrame:
        idx = self._choose((self.age >= 20) & (self.age <= 58), 0.02)
        end = self.rng.integers(0, self.history, size=len(idx))
        length = self.rng.integers(1, 13, size=len(idx))
        b = np.arange(self.history)[None, :]
        active = (b >= end[:, None]) & (b < (end + length)[:, None])
        amount = (self.rng.integers(150, 190, size=len(idx)) * 10).astype(float)
        return self._payments(idx, active, amount, "pay_month")

    def housing_fund(self) -> pl.DataFrame:
        idx = self._choose((self.age >= 22) & (self.age <= 59), 0.3)
        active = self.rng.random((len(idx), self.history)) < 0.93
        person, months = self._monthly(idx, active)
        employer = self._pick(list(places.LOCAL_EMPLOYERS), len(idx))
        amount = (self.rng.integers(10, 300, size=len(idx)) * 10).astype(float)
        return self._people(idx)[person].with_columns(
            pl.Series("employer", employer[person]), months.alias("contribution_month"),
            pl.Series("amount", amount[person], dtype=pl.Float64))

    def employment(self) -> pl.DataFrame:
        idx = self._choose((self.age >= 18) & (self.age <= 60), 0.45)
        pairs = [(c, e, 0.88 / (len(places.LOCAL_CITY_CODES) * len(places.LOCAL_EMPLOYERS)))
                 for c in places.LOCAL_CITY_CODES for e in places.LOCAL_EMPLOYERS]
        away = [(c, e) for c, es in places.AWAY_EMPLOYERS.items() for e in es]
        pairs += [(c, e, 0.12 / len(away)) for c, e in away]
        which = self.rng.choice(len(pairs), size=len(idx), p=np.array([p for _, _, p in pairs]) / sum(
            p for _, _, p in pairs))
        cities = np.array([c for c, _, _ in pairs])[which]
        employers = np.array([e for _, e, _ in pairs])[which]
        active = self.rng.random((len(idx), self.history)) < 0.9
        person, months = self._monthly(idx, active)
        return self._people(idx)[person].with_columns(
            pl.Series("employer", employers[person]), pl.Series("city_code", cities[person]),
            months.alias("contribution_month"))

    def vehicles(self) -> pl.DataFrame:
        idx = self._choose((self.age >= 20) & (self.age <= 75), 0.22)
        k = len(idx)
        types = self._pick(["K33", "K31", "K32", "K11", "H31", "H11", "Q11", "Z11", "M21", "M22", "N11", "T11"], k,
                           [50, 6, 6, 1, 5, 2, 0.5, 0.3, 12, 8, 3, 1])
        status = self._pick(["正常", "注销", "报废"], k, [88, 7, 5])
        alphabet = np.array(list("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"))
        plate = np.full(k, "鄂A", dtype="<U8")
        for _ in range(5):
            plate = np.char.add(plate, alphabet[self.rng.integers(len(alphabet), size=k)])
        return self._people(idx).with_columns(
            pl.Series("plate", plate), pl.Series("vehicle_type", types),
            self._days_back(k, 100, 6000).alias("registered_on"), pl.Series("status", status))

    def properties(self) -> pl.DataFrame:
        owners = self._choose(self.age >= 25, 0.45)
        second = owners[self.rng.random(len(owners)) < 0.08]
        business = owners[self.rng.random(len(owners)) < 0.06]
        idx = np.concatenate([owners, second, business])
        use = np.concatenate([np.full(len(owners) + len(second), "住宅", dtype="<U2"),
                              self._pick(["商业", "商服", "营业", "车库", "车位", "仓储", "仓库", "办公", "工业"],
                                         len(business))])
        order = np.argsort(idx, kind="stable")
        idx, use = idx[order], use[order]
        k = len(idx)
        uniq, person = np.unique(idx, return_inverse=True)
        year = self.rng.integers(2000, self.as_of.year + 1, size=k)
        serial = self.rng.integers(1, 9_999_999, size=k)
        area = np.where(use == "住宅", self.rng.integers(300, 1600, size=k), self.rng.integers(100, 900, size=k)) / 10
        cert = pl.format("鄂({})武汉市不动产权第{}号", pl.Series(year).cast(pl.Utf8),
                         pl.Series(serial).cast(pl.Utf8).str.zfill(7))
        return self._people(uniq)[person].with_columns(
            pl.select(cert).to_series().alias("certificate_no"), pl.Series("use", use),
            pl.Series("area", area, dtype=pl.Float64), self._days_back(k, 30, 9000).alias("registered_on"),
            pl.Series("status", self._pick(["现势", "注销"], k, [93, 7])))

    def household_events(self) -> pl.DataFrame:
        idx = self._choose(np.ones(len(self.age), dtype=bool), 0.015)
        k = len(idx)
        return self._people(idx).with_columns(
            pl.Series("event_type", self._pick(["迁出", "人户分离"], k, [6, 4])),
            self._days_back(k, 0, 3650).alias("event_date"))

    def marriages(self) -> pl.DataFrame:
        idx = self._choose((self.age >= 22) & (self.age <= 75), 0.04)
        k = len(idx)
        spouse = self.pop[self.rng.integers(0, self.pop.height, size=k)]
        return self._people(idx).with_columns(
            pl.Series("event_type", self._pick(["结婚", "离婚"], k, [3, 1])),
            self._days_back(k, 0, 7300).alias("event_date"),
            spouse["name"].alias("spouse_name"), spouse["id18"].alias("spouse_id_number"))

    def hukou_members(self) -> pl.DataFrame:
        n = self.pop.height
        sizes = self.rng.choice([1, 2, 3, 4, 5], size=n // 2 + 1, p=[0.25, 0.3, 0.25, 0.13, 0.07])
        starts = np.concatenate([[0], np.cumsum(sizes)])
        groups = np.repeat(np.arange(len(sizes)), sizes)[:n]
        first = np.zeros(n, dtype=bool)
        first[starts[starts < n]] = True
        relation = np.where(first, "户主", self._pick(["配偶", "子女", "父母", "其他"], n, [4, 4, 1.5, 0.5]))
        hukou = np.char.add("4201", np.char.zfill(groups.astype(str), 8))
        return self._people(np.arange(n)).with_columns(
            pl.Series("hukou_no", hukou), pl.Series("relation", relation))
