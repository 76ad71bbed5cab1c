"""The named queries the edges read through (web/ and cli/ build no SQL): one per question.

| module | what |
| --- | --- |
| ``overview.py`` | an onboarding's stage, channels by state, the needs-attention lists |
| ``funnel.py`` | the journeys of a range of days: steps, conversion, times, outcomes per day |
| ``funnel_counts.py`` | counting journeys; past days kept, counted again when marked stale |
| ``search.py`` | what a phone number, client id, channel id or partner user id finds |
| ``clients.py`` | a client's channels, key generations, events and timeline |
| ``onboardings.py`` | onboarding attempts: a product's list, by id, by state, by cookie |
| ``channel_rows.py`` | channels for the product API: a filtered list, one |
| ``subjects.py`` | what an operator's action is about: a channel, a client, their state |
| ``deliveries.py`` | a product's events and their delivery attempts |
| ``events.py`` | the product_events stream as the API lists it |
| ``key_checks.py`` | the key health check's due channels and counts |
| ``health.py`` | which migration the database carries (readiness) |

Every query is bound parameters only and never selects a key (``api_keys.ciphertext``).
"""
