"""The agents app's pages: agents.py for the agents, playground.py for conversations."""
