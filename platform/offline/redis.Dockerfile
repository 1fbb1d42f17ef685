# Redis 7 from Debian's packages, started as the redis image starts it: data in /data,
# reachable from the other containers (protected mode off; the network is the compose
# project's own). Built on the offline services base by `manage.py build_stack_images`.
COPY redis-entrypoint.sh /usr/local/bin/redis-entrypoint.sh
RUN mkdir -p /data && chown redis:redis /data
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["/bin/sh", "/usr/local/bin/redis-entrypoint.sh"]
CMD ["redis-server"]
