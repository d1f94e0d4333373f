# One image with every binary of the backoffice; docker-compose.yml picks the command per service.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/ \
        ./services/customers/cmd/customers-api \
        ./services/orders/cmd/orders-api \
        ./services/orders/cmd/orders-worker \
        ./services/reporting/cmd/reporting \
        ./outbox/cmd/outbox-relay \
        ./db/cmd/dbtool \
 && CGO_ENABLED=0 go build -trimpath -o /out/orchestrator-local ./lambda/orchestrator/cmd/local

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER nonroot:nonroot
