"""The deployment's administrator: the admin key that grants it, and the
functions the dashboard calls with it."""
