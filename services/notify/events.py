"""What notify publishes: nothing yet. Its output is messages (the in-app inbox and SMS), not events;
what it consumes is in ``handlers.py``. A publisher, when one comes, goes here (a helper around
``uow.emit``, called by a use case in ``services.py``)."""
