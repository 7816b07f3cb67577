"""One router per group of routes."""
