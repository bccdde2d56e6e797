"""What tracking consumes. It owns the registry; the events it will consume (resolutions, tasks)
arrive with its issue."""

HANDLERS: dict = {}
