"""The dashboard: a page served at `/_dashboard` that shows the app's data,
functions and health through the admin's sync connection (its functions are
in server/admin/dashboard.py; the page's source is in ui/, built into
static/)."""

from server.dashboard.routes import PREFIX, dashboard_path, injects_key, serve_dashboard

__all__ = ["PREFIX", "dashboard_path", "injects_key", "serve_dashboard"]
