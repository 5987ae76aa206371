# Builds the one herald binary; docker-compose.yml runs it as `api`, `worker` and `migrate`.
FROM golang:1.26-bookworm AS build
ENV GOTOOLCHAIN=auto CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/herald ./cmd/herald

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/herald /usr/local/bin/herald
USER nonroot
ENTRYPOINT ["/usr/local/bin/herald"]
