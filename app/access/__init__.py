"""Just-in-time access: requests checked against policy, approvals, time-bound grants.

- ``policy``: the ``[access.*]`` TOML sections, validated at start-up; which policy covers a group.
"""
