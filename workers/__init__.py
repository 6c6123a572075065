"""Celery tasks: take ids, load rows, call one service, retry transient errors."""
