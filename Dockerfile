# Lookout: a static binary on a distroless base, run as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/lookout ./cmd/lookout

# docker build --target browser: the same binary on Debian with Debian's
# Chromium, for browser probes (probes[].browser), under tini: Chromium's
# helper processes are handed to PID 1 when the browser goes, and tini
# reaps them. Non-root, with the distroless image's uid.
FROM debian:bookworm-slim AS browser
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      chromium fonts-liberation ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 65532 --user-group --create-home --home-dir /home/nonroot nonroot
COPY --from=build /out/lookout /usr/local/bin/lookout
COPY examples/quickstart.yml /etc/lookout/lookout.yml
USER nonroot:nonroot
WORKDIR /home/nonroot
EXPOSE 9477 9478
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
  CMD ["/usr/local/bin/lookout", "healthcheck", "--config", "/etc/lookout/lookout.yml"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/lookout"]
CMD ["run", "--config", "/etc/lookout/lookout.yml"]

# The default image (the last stage): no browser.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/lookout /usr/local/bin/lookout
COPY examples/quickstart.yml /etc/lookout/lookout.yml
USER nonroot:nonroot
# storage.path (alert state, silences, the outbox) defaults to ./data.
WORKDIR /home/nonroot
# 9477: the admin listener (keep it private); 9478: server.public, if configured.
EXPOSE 9477 9478
# The image has no shell or curl: the binary checks its own /healthz, at
# the config's server.listen, over TLS when its web config has it. Mount
# your own config at /etc/lookout/lookout.yml, or override both CMD and
# this HEALTHCHECK with the same --config.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
  CMD ["/usr/local/bin/lookout", "healthcheck", "--config", "/etc/lookout/lookout.yml"]
ENTRYPOINT ["/usr/local/bin/lookout"]
CMD ["run", "--config", "/etc/lookout/lookout.yml"]
