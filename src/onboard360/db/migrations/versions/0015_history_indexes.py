"""What a year of history and traffic is read through: search by a user id and by a phone
number however 360dialog formats it, a client's webhooks on its timeline, the metrics'
count of unfinished jobs.

Revision ID: 0015
Revises: 0014

Measured on 151,515 clients and 212,121 channels (bench/history_seed.py at 1,000,000
onboardings), each search's statements, quiet machine, medians of 7:

- ``clients_user`` (btree ``(hub, external_user_id)``) serves search's ``external_user_id
  = :q`` over clients: without it that equality made every search (``C42``,
  ``user-4242``, a phone number) read all clients sequentially, ~30 ms at 151k, growing
  with the history; with it the clients branch is a BitmapOr of index probes. (A user's
  clients are also looked up by it elsewhere: db/queries/clients.py, onboardings.py.)
- ``channels_phone_digits_trgm`` (pg_trgm GIN on the phone number's digits,
  ``regexp_replace(phone_number, '[^0-9]', '', 'g')``) replaces ``channels_phone_trgm``
  (0011, on ``lower(phone_number)``): search matches the digits typed against the digits
  stored, so a number 360dialog sends as ``+49 151 2345 678`` (its format is not
  documented; the sandbox accepts spaces) is found by ``4915123``, and the index still
  serves a suffix or any run of digits.
- ``channels_phone_digits_prefix`` (btree ``(hub, digits text_pattern_ops)``): when some
  number starts with the digits typed (with or without the ``+``), search matches them as
  a prefix through this range (exactly the matches); the trigram index, for a long run
  of digits common to many numbers (``+4915`` and nine digits counting up, the bench's
  seed), returns ~11 candidates per match to recheck: 0.7 vs ~10 ms for 1,000 matches.

- ``clients_id_prefix``, ``clients_user_prefix``, ``channels_id_prefix``,
  ``onboardings_user_prefix`` (btree ``(hub, lower(col) text_pattern_ops)``): an id or
  user id typed from its beginning matches as a prefix through a range of these; the
  trigram indexes of 0011 stay for a part from the middle. Ids share long runs (every
  user id of the bench's seed starts ``user-``; real ones share a product's own
  prefix), so the trigram index reads the posting lists of trigrams that are in every
  row: ``user-4242`` over 1,000,000 onboardings' user ids took 58 ms in the GIN alone.
- ``inbox_events_client`` / ``inbox_events_channel`` (btree ``(hub, client_id)``, ``(hub,
  channel_id)``): the client page's and the API timeline's webhook lines (``i.hub = :hub
  AND (i.client_id = :client OR i.channel_id = ANY(:channels))``, db/queries/clients.py)
  read every webhook body ever received without them. bench/history.py found it once it
  seeded a year of traffic beside the history: at 100,000 onboardings (151,515 bodies)
  the client page went from 10 to 39 ms and the timeline from 6 to 37 ms.

- ``procrastinate_jobs_unfinished`` (btree ``(task_name, status)`` of the jobs waiting,
  running or failed): every ``GET /metrics`` counts them per task
  (jobs/queue.py's ``job_counts``); without it that count read every finished job the
  retention keeps (7 days of traffic by default, all of them before retention existed):
  236 ms per scrape with 1,480,000 finished jobs, 0.04 ms of SQL with it. An index of
  ours on the queue's table: procrastinate's migrations leave indexes they do not know.

Search's statements for a phone prefix (``4915000012``, 1,000 matches) went from 57 to
~13 ms, for a client id part (``C42``, 1,111 matches) from 49 to ~6 ms. Built
concurrently, outside the transaction, so a big table stays writable meanwhile.
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

PHONE_DIGITS = "regexp_replace(phone_number, '[^0-9]', '', 'g')"
_NEW = (
    "clients_user ON clients (hub, external_user_id)",
    "clients_id_prefix ON clients (hub, lower(client_id) text_pattern_ops)",
    "clients_user_prefix ON clients (hub, lower(external_user_id) text_pattern_ops)",
    "channels_id_prefix ON channels (hub, lower(channel_id) text_pattern_ops)",
    "onboardings_user_prefix ON onboardings (hub, lower(external_user_id) text_pattern_ops)",
    f"channels_phone_digits_trgm ON channels USING gin (({PHONE_DIGITS}) gin_trgm_ops)",
    f"channels_phone_digits_prefix ON channels (hub, ({PHONE_DIGITS}) text_pattern_ops)",
    "inbox_events_client ON inbox_events (hub, client_id)",
    "inbox_events_channel ON inbox_events (hub, channel_id)",
    "procrastinate_jobs_unfinished ON procrastinate_jobs (task_name, status) "
    "WHERE status IN ('todo', 'doing', 'failed')",
)
_OLD = "channels_phone_trgm ON channels USING gin (lower(phone_number) gin_trgm_ops)"


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for index in _NEW:
            op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index}")
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS channels_phone_trgm")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {_OLD}")
        for index in _NEW:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {index.split(' ', 1)[0]}")
