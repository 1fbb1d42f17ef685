#!/bin/sh
# The offline Redis image's entry point: the server as the redis user, in /data, without
# protected mode (which would refuse the other containers), like the redis image.
set -eu
if [ "$1" = redis-server ]; then
  shift
  chown redis:redis /data
  exec setpriv --reuid=redis --regid=redis --init-groups \
    redis-server --protected-mode no --dir /data "$@"
fi
exec "$@"
