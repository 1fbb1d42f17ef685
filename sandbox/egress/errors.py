"""What goes wrong with the egress proxy, as the sandbox's callers see it."""


class EgressUnavailable(RuntimeError):
    """The proxy cannot serve a sandbox; the message says why and what to do."""


class ProxyGone(EgressUnavailable):
    """The proxy a sandbox was linked to has been replaced since."""
