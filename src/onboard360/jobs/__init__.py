"""Background work on procrastinate: every effect of the lifecycle is a job here."""
