"""The event bus: transactional outbox, relay, idempotent inbox, consumers, retries, dead letters."""
