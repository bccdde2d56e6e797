"""Intake: residents raise matters (百姓点事) and communities triage them (两委定事)."""
