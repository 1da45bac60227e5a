"""The Chinese title of every rule code, from the policy document's twelve targets
(三、重点清理对象) and the near-relative filing duty (四、近亲备案).

Kept apart from `matching.rules` so that report writers can label findings
without importing the rule engine."""

RULE_TITLES: dict[str, str] = {
    "R01": "低保对象已死亡",
    "R02": "有家庭成员领取养老保险金",
    "R03": "有家庭成员领取失业保险金",
    "R04": "有家庭成员缴纳住房公积金",
    "R05": "家中购买有小轿车、货车、客车等机动车辆",
    "R06": "家中有营业用房、车库、仓库、2套及以上住房等固定资产",
    "R07": "离异、迁出、人户分离、高中或大学毕业已就业",
    "R08": "家庭收入达到保障标准",
    "R09": "长期外出务工",
    "R10": "连续3年以上享受低保",
    "R11": "保障对象4人以上",
    "R12": "被举报的对象",
    "X01": "低保经办人员和社区干部近亲属享受低保未备案",
    "X02": "同一人在两个及以上在保家庭",
    "X03": "身份证号无效",
}
