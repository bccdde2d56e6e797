"""Alembic migrations per service: ``xieshang db upgrade [service]``.

Each service keeps its scripts in ``services/<name>/migrations``; their ``env.py`` is two lines
that call ``run_env`` here, so online/offline handling is written once.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

from shared.db import make_engine


def alembic_config(script_location: str, url: str, metadata: MetaData) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", script_location)
    cfg.attributes["url"] = url
    cfg.attributes["target_metadata"] = metadata
    return cfg


def upgrade(script_location: str, url: str, metadata: MetaData, revision: str = "head") -> None:
    command.upgrade(alembic_config(script_location, url, metadata), revision)


def revision(script_location: str, url: str, metadata: MetaData, message: str) -> None:
    command.revision(alembic_config(script_location, url, metadata), message=message, autogenerate=True)


def _render_item(type_: str, obj, _autogen_context):
    """Write portable types into migration scripts, so old scripts never import app code."""
    from shared.db import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_env() -> None:
    """Body of every service's ``env.py``."""
    from alembic import context

    cfg = context.config
    metadata = cfg.attributes["target_metadata"]
    url = cfg.attributes["url"]
    render_batch = url.startswith("sqlite")  # SQLite alters tables by copying them
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True, render_as_batch=render_batch)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=render_batch,
                render_item=_render_item,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()
