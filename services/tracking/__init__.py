"""Tracking: resolutions become tasks; progress, escalation, ratings, coverage; owns the division registry."""
