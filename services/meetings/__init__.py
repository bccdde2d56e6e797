"""Meetings: consultations that deliberate (居民议事) and decide by rule (与会决事)."""
