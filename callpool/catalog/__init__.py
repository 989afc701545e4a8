"""The catalog: sites, campaigns, channels and tracking numbers.

``spec`` validates input (pure), ``store`` writes it (SQL), ``api`` is the admin HTTP API.
"""
