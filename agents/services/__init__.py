"""What changes the agents app's data: agents (agents.py), conversations and their turns
(turns.py). Callers import the module they need."""
