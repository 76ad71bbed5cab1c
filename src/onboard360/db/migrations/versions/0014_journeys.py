"""What the funnel and abandonment read of an onboarding attempt: when it reached each step.

Revision ID: 0014
Revises: 0013

An attempt's steps, each stamped once, the first time it is reached (never cleared; the
funnel counts who *reached* a step, not who is there now):

- ``popup_opened_at`` (0008) — the hosted page or the signing call was used;
- ``popup_blocked_at`` / ``popup_closed_at`` — the connect page saw the browser block the
  popup, or the person close 360dialog's window before the redirect came back;
- ``redirected_at`` (0002) — the redirect back;
- ``first_channel_at`` — the first of its own numbers exists (``channel_created``);
- ``running_at`` — one of its own numbers is ``running``;
- ``key_stored_at`` — one of its own numbers has its key stored;
- ``activated_at`` — ``channel.activated`` for one of its own numbers was delivered to
  the product.

``abandoned_at`` / ``abandoned_step`` / ``abandoned_reason``: the attempt expired
without its redirect, or its numbers stopped short of running for too long; the last
step it had reached and why it waits (the channel's blocker and reason).

``journey_id``: a resumed attempt's journey is the attempt it resumes (transitively: the
first attempt's id); NULL means the attempt started its own journey (its ``id``), so no
existing row is rewritten. ``resumed_from``: the attempt this one resumes.

Nullable columns without a default: adding them rewrites nothing. The indexes the funnel
and the abandonment sweep read are their own migrations.
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("journey_id", "uuid"),
    ("resumed_from", "uuid"),
    ("popup_blocked_at", "timestamptz"),
    ("popup_closed_at", "timestamptz"),
    ("first_channel_at", "timestamptz"),
    ("running_at", "timestamptz"),
    ("key_stored_at", "timestamptz"),
    ("activated_at", "timestamptz"),
    ("abandoned_at", "timestamptz"),
    ("abandoned_step", "text"),
    ("abandoned_reason", "text"),
)


def upgrade() -> None:
    added = ", ".join(f"ADD COLUMN {name} {kind}" for name, kind in _COLUMNS)
    op.execute(f"ALTER TABLE onboardings {added}")


def downgrade() -> None:
    dropped = ", ".join(f"DROP COLUMN {name}" for name, _ in _COLUMNS)
    op.execute(f"ALTER TABLE onboardings {dropped}")
