# Caddy from Debian's package (2.6), on the same debian:bookworm-slim base as the hubs. Paths and
# command as in the official caddy image: the Caddyfile at /etc/caddy/Caddyfile, certificates and
# Caddy's local CA under /data (XDG_DATA_HOME), autosaved config under /config.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends caddy \
 && rm -rf /var/lib/apt/lists/*
ENV XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data
VOLUME /config /data
WORKDIR /srv
EXPOSE 80 443 443/udp
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
