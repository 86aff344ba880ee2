# One image for every trstream service: ingest, lake, compact, query.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# cgo: DuckDB's static library is linked in.
RUN CGO_ENABLED=1 go build -trimpath -o /out/trstream ./cmd/trstream

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/trstream /usr/local/bin/trstream
WORKDIR /app
COPY pipelines ./pipelines
COPY redpanda ./redpanda
EXPOSE 4195 8090
ENTRYPOINT ["trstream"]
