"""Notify's periodic parts (``shared.periodic.Periodic``, run by its worker beside the consumer;
``spec.background`` assembles them): ``sender`` hands due SMS to the provider, ``reminders`` reminds
invitees before a consultation, ``dead_letters`` tells operators when dead letters pile up. Each
pass takes the time from a clock (``shared.clock``) and calls use cases of ``services.py``, each in
a unit of work of its own."""
