"""The billing pages: billing.py for the billing settings, usage.py for the usage report."""
