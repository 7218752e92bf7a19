# Multi-stage build of the bulwark binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p bulwark-server

FROM debian:bookworm-slim
# josekit links the system OpenSSL.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/bulwark bulwark \
    && mkdir -p /var/lib/bulwark/data && chown -R bulwark /var/lib/bulwark
COPY --from=build /src/target/release/bulwark /usr/local/bin/bulwark
USER bulwark
WORKDIR /var/lib/bulwark
EXPOSE 8443
ENTRYPOINT ["bulwark"]
CMD ["serve"]
