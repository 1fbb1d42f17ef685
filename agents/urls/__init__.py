"""The agents app's URLs, one module per namespace, named like the views module it routes
to: agents (the agents' pages) and playground (conversations)."""
