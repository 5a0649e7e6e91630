"""One router per concern: scoring, health and model, admin."""
