"""The service's web edge: connect pages, redirect consumer, partner webhooks, REST API."""
