"""Telling people: reminder channels and delivery, token-expiry reminders, alerts and the calendar file."""
