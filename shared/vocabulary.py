"""The platform's shared vocabularies: plain values that domains, schemas and the event catalogue
all name, kept here so that none of them has to import another (nor anything heavy) for them."""

# How a matter reached the platform.
CHANNELS = ("app", "web", "sms", "district_system", "hotline", "offline")
# Who raised a topic: residents (bottom-up) or officials (the report's "议题往往自上而下").
ORIGINS = ("resident", "top_down")
DIVISION_LEVELS = ("province", "city", "county", "street", "community")
# The kinds of contact in notify's directory: residents, department contacts (of an organisation),
# operators (told of operational trouble). Notify keeps them; its directory event names them.
CONTACT_KINDS = ("resident", "department_contact", "operator")
# The consultation forms of the 2015 procedure: meetings decides with them, notify names them.
CONSULTATION_FORMS = {
    "community_council": "社区议事会",
    "party_member_council": "党员议事会",
    "residents_forum": "居民论坛",
    "neighbourhood_point": "邻里议事点",
    "building": "楼栋/门栋议事",
    "owners_meeting": "业主协商会",
    "hearing": "民主听证会",
    "dialogue": "民主恳谈会",
    "review": "民主评议会",
    "online": "线上协商",
}
