"""Notify: SMS and app notifications to residents and departments."""
