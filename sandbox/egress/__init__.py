"""The egress proxy on the Docker engine, and each network-enabled sandbox's link to it.

One proxy container serves the engine (TURNBOX_EGRESS_PROXY): Squid, with the files of
platform/egress/. A sandbox that may reach the network gets an internal Docker network
of its own (no route out, no host address on it), which only it and the proxy join; its
proxy variables point at the proxy's address on that network. That address names the
session to the proxy: the app writes the session's policy under it into the proxy's
state volume (the Docker archive API, so a remote engine works too), and the proxy's
helper reads it for every request. The helper writes each decision as a line on the
proxy's stderr before Squid answers; each app process keeps one attach stream to it
(RecordFeed) and hands every session the lines of its own. Squid's configuration never
changes at run time.

The modules: proxy (the proxy container's lifecycle), refused (the networks it refuses),
links (a sandbox's own network and policy), feed (the proxy's decisions as they arrive),
attempts (those decisions summed up per host), image (the proxy's image), errors.
"""
