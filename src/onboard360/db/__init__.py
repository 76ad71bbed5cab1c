"""PostgreSQL: the embedded default, the engine and the migrations."""
