"""What every process needs at run time: serving, logging, redaction, metrics, failpoints."""
