#!/bin/sh
# Starts the egress proxy: state folders, the list of refused networks, a firewall that
# refuses new connections to them whatever Squid decides (and a sandbox's 65th connection
# to Squid), then Squid as user proxy.
# Runs as root with NET_ADMIN (in the container's own network namespace only) and
# SETUID/SETGID to drop to the proxy user; Squid itself keeps no capability.
set -eu

STATE=/run/turnbox-egress
RUN=/run/squid
REFUSED="$RUN/refused-networks"

mkdir -p "$STATE/policies" "$RUN"
# Root holds no DAC_OVERRIDE: after a restart the folders are the proxy user's already,
# so take them back while root writes in them.
chown root:root "$RUN"
# Squid opens its logs by name once it is the proxy user: the pipes Docker gave us are root's.
chown proxy /proc/self/fd/1 /proc/self/fd/2

grep -v '^#' /opt/turnbox-egress/refused-networks | grep . > "$REFUSED"
for network in $(echo "${TURNBOX_EGRESS_REFUSE:-}" | tr ',' ' '); do
  echo "$network" >> "$REFUSED"
done
chown proxy:proxy "$STATE" "$STATE/policies" "$RUN"

# New connections only: answers to the sandboxes (on their own private networks) go on.
# DNS goes only to the resolvers of /etc/resolv.conf (Docker's embedded one, 127.0.0.11,
# on the loopback) and from root's sockets: the embedded resolver forwards from this
# network namespace as the engine's root, to servers this container cannot see, and
# nothing here runs as root once Squid starts. So port 53 of a private address is no way
# past the rules below. REJECT, not DROP, so a refusal is quick.
# Every rule must hold: a proxy missing one would start with less protection than promised.
rule() {
  "$@" && return 0
  echo "turnbox-egress: could not set up the firewall: '$*' failed (needs NET_ADMIN and iptables support in the kernel); set TURNBOX_EGRESS_FIREWALL=off to run with Squid's checks alone" >&2
  exit 1
}

firewall() {
  for tool in iptables ip6tables; do
    rule "$tool" -w -F INPUT
    # Each sandbox has an address of its own on the proxy: at most 64 connections from it
    # at once, idle or not (Squid's maxconn sees only those that send a request).
    case "$tool" in ip6tables) mask=128 ;; *) mask=32 ;; esac
    rule "$tool" -w -A INPUT -p tcp --dport 3128 --syn -m connlimit --connlimit-above 64 \
      --connlimit-mask "$mask" -j REJECT --reject-with tcp-reset
    rule "$tool" -w -F OUTPUT
    rule "$tool" -w -A OUTPUT -o lo -j ACCEPT
    for protocol in udp tcp; do
      rule "$tool" -w -A OUTPUT -p "$protocol" --dport 53 -m owner --uid-owner 0 -j ACCEPT
    done
  done
  for resolver in $(awk '$1 == "nameserver" { print $2 }' /etc/resolv.conf); do
    case "$resolver" in *:*) tool=ip6tables ;; *) tool=iptables ;; esac
    for protocol in udp tcp; do
      rule "$tool" -w -A OUTPUT -d "$resolver" -p "$protocol" --dport 53 -j ACCEPT
    done
  done
  while read -r network; do
    case "$network" in *:*) tool=ip6tables ;; *) tool=iptables ;; esac
    rule "$tool" -w -A OUTPUT -d "$network" -p tcp --syn -j REJECT --reject-with tcp-reset
    rule "$tool" -w -A OUTPUT -d "$network" -p udp -j REJECT
  done < "$REFUSED"
}

if [ "${TURNBOX_EGRESS_FIREWALL:-on}" = off ]; then
  echo "turnbox-egress: firewall off (TURNBOX_EGRESS_FIREWALL=off): Squid alone refuses private addresses" >&2
else
  firewall
fi

exec setpriv --reuid=proxy --regid=proxy --init-groups --inh-caps=-all \
  squid -N -f /opt/turnbox-egress/squid.conf
