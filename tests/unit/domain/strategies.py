"""Hypothesis strategies shared by the domain tests."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st

from onboard360.domain import MAX_ID_LENGTH, ChannelId, ClientId

# No deadline: CI machines are slow and shared; the properties are about correctness.
PROPERTY = settings(deadline=None, max_examples=300)

ID_PATTERN = rf"[A-Za-z0-9_-]{{1,{MAX_ID_LENGTH}}}"
ids = st.from_regex(ID_PATTERN, fullmatch=True)
client_ids = ids.map(ClientId)
channel_ids = ids.map(ChannelId)
# What a state value the service generates looks like: printable ASCII, no spaces.
states = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64)
