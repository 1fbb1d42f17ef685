"""The billing app's URLs, one module per namespace, named like the views module it routes
to: billing (the billing settings) and usage (the usage report)."""
