# nginx from Debian's packages, laid out like the nginx image: sites in
# /etc/nginx/conf.d/ (the compose file mounts platform/nginx.example.conf there as
# default.conf), logs to the container's output. Built on the offline services base by
# `manage.py build_stack_images`.
RUN rm -f /etc/nginx/sites-enabled/default \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
EXPOSE 80 443
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
