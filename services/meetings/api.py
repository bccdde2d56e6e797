"""Meetings' HTTP routes. Consultations, participants and decisions arrive with their issue."""


def blueprints():
    return []
