"""The web shell: the one part of ``app`` that imports Flask.

``factory`` builds the app (the composition root, the only module that imports every door);
``context`` hands the doors their settings, database and per-request read connection;
``plumbing`` adds request ids, JSON logs and health checks; ``callers`` says who is calling;
``errors`` renders each door's errors under its own URL prefix. ``console`` and ``api`` are doors.
"""
