"""Account lifecycle: activity, dormant rules (warn, grace, act) and local suspensions."""
