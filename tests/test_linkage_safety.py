"""The safety rules of the linkage: look-alikes never become findings (issue 3)."""

import datetime as dt

from matching.ids import make_id
from tests.rule_fixtures import World, person_id


def links(w: World) -> list[tuple[str, str, str]]:
    return w.con.execute("SELECT source_record_id, member_key, match_class FROM link_pairs ORDER BY 1, 2").fetchall()


def pension(w: World, name: str, pid: str, record: str) -> None:
    w.add("pensions", record_id=record, name=name, id_number=pid, pay_month=dt.date(2026, 10, 1), amount=100.0)


def test_same_id_with_an_unrelated_or_merely_similar_name_is_at_most_possible():
    w = World()
    pid = person_id()
    w.household("H1", [("陈丽", pid)])
    pension(w, "程辉", pid, "P1")  # pinyin 'cheng hui' vs 'chen li': Jaro-Winkler 0.905
    pension(w, "李强", pid, "P2")
    w.run()
    assert {(r, c) for r, _, c in links(w)} <= {("P1", "possible"), ("P2", "possible")}
    assert w.findings("R02") == []


def test_a_valid_neighbouring_id_is_someone_else():
    w = World()
    pid = make_id("420102", dt.date(1960, 5, 6), 500)
    w.household("H1", [("张伟", pid)])
    pension(w, "张伟", make_id("420102", dt.date(1960, 5, 6), 502), "P1")  # valid, differs in sequence
    w.run()
    assert links(w) == []


def test_same_name_with_another_birth_date_is_no_match():
    w = World()
    w.household("H1", [("王秀英", make_id("420102", dt.date(1950, 1, 1), 20))])
    pension(w, "王秀英", make_id("420102", dt.date(1951, 1, 1), 20), "P1")
    w.run()
    assert links(w) == []


def test_a_typo_in_the_id_with_the_same_name_is_probable():
    w = World()
    pid = person_id()
    w.household("H1", [("张伟", pid)])
    typo = pid[:12] + str((int(pid[12]) + 3) % 10) + pid[13:]
    pension(w, "章伟", typo, "P1")
    w.run()
    assert links(w) == [("P1", "H1#1", "probable")]
    evidence = w.con.execute("SELECT evidence FROM flags WHERE rule = 'R02'").fetchone()[0]
    assert "身份证号第13位不同" in evidence and "姓名同音（章伟/张伟）" in evidence


def test_a_blank_id_is_never_a_finding():
    w = World()
    w.household("H1", [("欧阳娜娜", person_id())])
    pension(w, "欧阳娜娜", "", "P1")
    w.run()
    assert [c for _, _, c in links(w)] in ([], ["possible"])
    assert w.findings("R02") == []


def test_two_people_competing_for_a_record_only_the_best_links():
    w = World()
    a, b = person_id(dt.date(1960, 5, 6)), person_id(dt.date(1960, 5, 6))
    w.household("H1", [("张伟", a)])
    w.household("H2", [("张伟", b)])
    pension(w, "张伟", a, "P1")
    w.run()
    assert links(w) == [("P1", "H1#1", "exact")]


def _name_only_world() -> World:
    """A common name (王伟, hundreds in the registry) and a rare one, each also on a blank-ID record."""
    w = World()
    w.household("H1", [("王伟", person_id(dt.date(1970, 1, 1))), ("欧阳娜娜", person_id(dt.date(1980, 2, 2)))])
    w.household("H2", [("王伟", person_id(dt.date(1971, 3, 3)))])
    for i in range(600):
        pension(w, "王伟", make_id("420103", dt.date(1940 + i % 50, 1 + i % 12, 1 + i % 28), 300 + i), f"W{i:03d}")
    for i in range(400):
        pension(w, f"路人{chr(0x4E00 + i)}", make_id("420104", dt.date(1950, 1, 1), 100 + i), f"X{i:03d}")
    pension(w, "王伟", "", "P1")
    pension(w, "欧阳娜娜", "", "P2")
    return w


def test_name_only_blocking_skips_only_names_that_cannot_reach_possible(monkeypatch):
    import matching.linkage as linkage

    pruned = _name_only_world()
    pruned.run()
    everything = _name_only_world()
    monkeypatch.setattr(linkage, "open_names_sql",
                        lambda model, policy: "CREATE OR REPLACE TEMP TABLE link_name_open AS "
                                              "SELECT name_pinyin FROM link_tf")
    everything.run()

    def name_pairs(w: World) -> int:
        return w.con.execute("SELECT candidate_pairs FROM link_blocking WHERE job = 'pensions' "
                             "AND rule = 'name_pinyin_no_id'").fetchone()[0]

    assert name_pairs(everything) == 3 and name_pairs(pruned) == 1  # 王伟's two pairs are not compared
    assert links(pruned) == links(everything)
    assert ("P2", "H1#2", "possible") in links(pruned)
