"""Settings: the service's own, and the hubs and products it serves."""
