# syntax=docker/dockerfile:1
# hashgate: a static binary on a distroless base (CA certificates for stratum+ssl pools, no
# shell, non-root). Build: docker build -t hashgate --build-arg VERSION=$(git describe --always) .

FROM golang:1.26-bookworm AS build
ARG VERSION=dev
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-trimpath
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags "-s -w -X main.version=${VERSION} -X github.com/hashgate/hashgate/internal/app.Version=${VERSION}" \
      -o /out/hashgate ./cmd/hashgate \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hashgate /usr/local/bin/hashgate
# The store lives in /var/lib/hashgate (mount a volume there); owned by the nonroot user.
COPY --from=build --chown=65532:65532 /out/data /var/lib/hashgate
WORKDIR /var/lib/hashgate
USER 65532:65532
# 3333: Stratum V1 for miners; 8080: console, REST API and /metrics.
EXPOSE 3333 8080
# Healthy when the console's /readyz says a pool is up, the site meter is fresh and the store
# takes writes; `hashgate health` does the request (there is no shell or curl here). For
# liveness only (restart when stuck, not when a pool is down) use "health", "-live".
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/hashgate", "health", "-c", "/etc/hashgate/hashgate.toml"]
ENTRYPOINT ["/usr/local/bin/hashgate"]
CMD ["run", "-c", "/etc/hashgate/hashgate.toml"]
