"""Notifications by email (and, later, in the app)."""
