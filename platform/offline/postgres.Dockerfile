# PostgreSQL 15 from Debian's packages, started the way the postgres image starts it (a
# cluster made in the volume on first start from POSTGRES_USER, POSTGRES_PASSWORD and
# POSTGRES_DB). Built on the offline services base by `manage.py build_stack_images`,
# which puts the FROM line above this one.
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/bin/sh", "/usr/local/bin/postgres-entrypoint.sh"]
CMD ["postgres"]
