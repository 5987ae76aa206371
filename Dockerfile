# Builds the production herald binary: `api`, `worker` and `migrate` for
# docker-compose.yml. The nodev tag leaves the embedded Temporal server and
# its Web UI (`herald dev`, `herald bench`) out of it.
FROM golang:1.26-bookworm AS build
ENV GOTOOLCHAIN=auto CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN go build -trimpath -tags nodev -ldflags "-s -w -X main.version=${VERSION}" -o /out/herald ./cmd/herald

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/herald /usr/local/bin/herald
USER nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/herald"]
