"""The read queries the dashboard and the product API share: one query per question.

| module | what |
| --- | --- |
| ``overview.py`` | an onboarding's stage, channels by state, the needs-attention lists |
| ``search.py`` | what a phone number, client id, channel id or partner user id finds |
| ``clients.py`` | a client's channels, key generations, events and timeline |

Every query is bound parameters only and never selects a key (``api_keys.ciphertext``).
"""
