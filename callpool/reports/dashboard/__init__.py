"""The dashboard: server-rendered pages for marketers and sales leads, under ``/app``.

``app`` builds the sub-app (templates, languages, security middleware); ``auth`` signs
people in and out; ``selection`` parses the campaign and period every page shows;
``views/`` has one module per page. Figures come from the metrics engine, never from
queries of their own.
"""

from callpool.reports.dashboard.app import create_dashboard, root_routes
from callpool.reports.dashboard.keys import PREFIX

__all__ = ["PREFIX", "create_dashboard", "root_routes"]
