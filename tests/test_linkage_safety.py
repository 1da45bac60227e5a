"""The safety rules of the linkage (`matching.safety`), each with a literal pair and the case it
stands for: look-alikes and namesakes never become findings, clerks' slips still do."""

import datetime as dt

from matching.ids import make_id
from tests.rule_fixtures import World, person_id


def links(w: World) -> list[tuple[str, str, str]]:
    return w.con.execute("SELECT source_record_id, member_key, match_class FROM link_pairs ORDER BY 1, 2").fetchall()


def pension(w: World, name: str, pid: str, record: str) -> None:
    w.add("pensions", record_id=record, name=name, id_number=pid, pay_month=dt.date(2026, 10, 1), amount=100.0)


def test_s2_same_id_with_an_unrelated_or_merely_similar_name_is_at_most_possible():
    w = World()
    pid = person_id()
    w.household("H1", [("陈丽", pid)])
    pension(w, "程辉", pid, "P1")  # pinyin 'cheng hui' vs 'chen li': Jaro-Winkler 0.905
    pension(w, "李强", pid, "P2")
    w.run()
    assert {(r, c) for r, _, c in links(w)} <= {("P1", "possible"), ("P2", "possible")}
    assert w.findings("R02") == []


def test_s1_a_valid_neighbouring_id_is_someone_else():
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


def test_s3_a_blank_id_is_never_a_finding():
    w = World()
    w.household("H1", [("欧阳娜娜", person_id())])
    pension(w, "欧阳娜娜", "", "P1")
    w.run()
    assert [c for _, _, c in links(w)] in ([], ["possible"])
    assert w.findings("R02") == []


def test_s6_two_people_competing_for_a_record_only_the_best_links():
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


def _typo(text: str, i: int) -> str:
    return text[:i] + str((int(text[i]) + 3) % 10) + text[i + 1:]


def test_s1_does_not_hold_for_a_15_digit_id_whose_check_was_computed():
    """An old 15-digit ID with one digit mistyped: converted, it passes a check it never had."""
    w = World()
    pid = make_id("420102", dt.date(1962, 8, 9), 314)
    w.household("H1", [("刘建国", pid)])
    old = pid[:6] + pid[8:17]
    pension(w, "刘建国", _typo(old, 9), "P1")
    w.run()
    assert [(r, c) for r, _, c in links(w)] == [("P1", "probable")]
    evidence = w.con.execute("SELECT evidence FROM flags WHERE rule = 'R02'").fetchone()[0]
    assert "15位旧身份证号升位后第" in evidence


def test_s2_an_equal_id_under_an_unrelated_name_is_possible_and_under_a_lookalike_name_exact():
    """An ID copied onto another person's record: 张伟明's ID under 王强."""
    w = World()
    a, b, c = person_id(), person_id(dt.date(1970, 2, 3)), person_id(dt.date(1971, 4, 5))
    w.household("H1", [("张伟明", a)])
    w.household("H2", [("李未", b)])
    w.household("H3", [("赵红梅", c)])
    pension(w, "王强", a, "P1")
    pension(w, "李末", b, "P2")  # 未 read as 末 from a handwritten form
    pension(w, "赵红英", c, "P3")  # one given-name character off: left to the probability
    w.run()
    got = {r: c for r, _, c in links(w)}
    assert got["P1"] == "possible" and got["P2"] == "exact" and got["P3"] in ("probable", "possible")
    evidence = w.con.execute("SELECT evidence FROM link_pairs WHERE source_record_id = 'P3'").fetchone()[0]
    assert "身份证号一致" in evidence and "姓名名字一字之差（赵红英/赵红梅）" in evidence


def test_s4_a_namesake_born_the_same_day_in_another_county_is_no_finding():
    """The 2026-11 case: another 赵涛's death, born the same day elsewhere, his ID mistyped."""
    w = World()
    born = dt.date(1975, 6, 1)
    member = make_id("420102", born, 123)
    w.household("H1", [("赵涛", member)])
    other = _typo(make_id("421023", born, 457), 15)  # his own ID, one slip in the sequence
    w.add("deaths", record_id="D1", name="赵涛", id_number=other, death_date=dt.date(2026, 9, 1))
    w.run()
    assert [c for r, _, c in links(w) if c in ("exact", "probable")] == []
    assert w.findings("R01") == []


def test_s4_two_slips_in_one_part_of_the_id_are_still_a_finding():
    w = World()
    pid = make_id("420102", dt.date(1958, 3, 3), 246)
    w.household("H1", [("孙丽华", pid)])
    pension(w, "孙丽华", _typo(_typo(pid, 14), 15), "P1")  # two slips in the sequence, the sex digit kept
    w.run()
    assert [(r, c) for r, _, c in links(w)] == [("P1", "probable")]


def test_s5_an_id_slip_and_an_unrelated_name_are_at_most_possible():
    w = World()
    pid = person_id()
    w.household("H1", [("王建军", pid)])
    pension(w, "王建民", _typo(pid, 12), "P1")  # one slip in the ID, a different given name
    w.run()
    assert [c for _, _, c in links(w)] in ([], ["possible"])
    assert w.findings("R02") == []


def test_the_rosters_own_mistyped_id_still_finds_the_registrys_valid_one():
    w = World()
    pid = make_id("420102", dt.date(1966, 7, 7), 135)
    w.household("H1", [("陈红", _typo(pid, 11))])  # the roster's slip; its ID fails its check (X03)
    pension(w, "陈红", pid, "P1")
    w.run()
    assert [(r, c) for r, _, c in links(w)] == [("P1", "probable")]


def test_a_minority_name_without_its_separator_with_the_same_id_is_exact():
    w = World()
    pid = person_id(dt.date(1980, 1, 2), "650102")
    w.household("H1", [("买买提·艾力", pid)])
    pension(w, "买买提艾力", pid, "P1")
    w.run()
    assert [(r, c) for r, _, c in links(w)] == [("P1", "exact")]
