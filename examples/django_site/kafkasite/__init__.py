"""A minimal Django site that logs to Kafka through the LOGGING setting (see settings.py)."""
