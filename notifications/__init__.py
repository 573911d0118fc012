"""Proactive messaging: the outbox dispatcher, scheduler jobs, status updates, surveys and quiet hours."""
