# Redis for collab from Debian's package (7.0, the version the test suite runs against), on the
# same debian:bookworm-slim base as the hubs. Paths as in the official redis image: data in /data
# (the working directory and a volume), the config mounted at /usr/local/etc/redis/redis.conf.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data /usr/local/etc/redis && chown redis:redis /data
# Not root: a new volume mounted at /data takes this directory's owner (redis).
USER redis
WORKDIR /data
VOLUME /data
EXPOSE 6379
CMD ["redis-server"]
