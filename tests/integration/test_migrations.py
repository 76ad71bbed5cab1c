from sqlalchemy import create_engine, inspect

from onboard360.db.migrate import current_revision, head_revision


def test_cloned_database_is_at_head(database_url: str) -> None:
    assert head_revision() is not None
    assert current_revision(database_url) == head_revision()


def test_inbox_table_exists(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert "inbox_events" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
