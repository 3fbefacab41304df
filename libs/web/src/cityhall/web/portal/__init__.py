"""The staff portal at /staff/: login, logout, and the dashboards a person may open."""
