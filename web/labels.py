"""The words the staff's pages show for the API's codes (consultation forms, participant
categories, decision methods, task statuses…): the services keep their own vocabularies, which
the pages may not import; these are the same names, as people read them."""

from shared.vocabulary import CONSULTATION_FORMS

LABELS = {
    "forms": CONSULTATION_FORMS,
    "modes": {"offline": "线下", "online": "线上", "hybrid": "线上线下结合"},
    "methods": {"consensus": "协商一致(无人反对即通过)", "consent": "无阻止性异议(反对记录在案,不构成否决)",
                "qualified_majority": "特定多数表决(赞成/签到人数达到比例)"},
    "categories": {
        "resident_representative": "居民代表", "party_member": "党员", "npc_deputy": "人大代表",
        "cppcc_member": "政协委员", "expert": "专家", "social_organisation": "社会组织", "local_unit": "驻区单位",
        "property_management": "物业", "owners_committee": "业委会", "department": "部门代表",
        "stakeholder": "利益相关方",
    },
    "rsvp": {"pending": "未答复", "accepted": "参加", "declined": "不参加"},
    "votes": {"support": "赞成", "oppose": "反对", "abstain": "弃权", "block": "阻止"},
    "age_bands": {"under_30": "30岁以下", "30_44": "30至44岁", "45_59": "45至59岁", "60_plus": "60岁及以上"},
    "occupations": {"employed": "在职", "retired": "退休", "student": "学生", "other": "其他"},
    "stakeholder_types": {"owner": "业主", "tenant": "租户", "merchant": "商户", "organisation": "驻区单位或社会组织",
                          "public_body": "公共部门", "other": "其他"},
    "kinds": {"resident": "居民", "department_contact": "部门联系人", "operator": "运营人员"},
    "tasks": {"assigned": "已交办", "accepted": "已签收", "in_progress": "办理中", "completed": "已办结",
              "evaluated": "已评价", "reopened": "已重新办理", "closed": "已关闭"},
    "escalations": {0: "", 1: "已督办(街道)", 2: "已通报,督办到区县"},
}  # fmt: skip
