"""The JSON API door under ``/api``: ``audit`` serves ``/api/audit``."""
