# syntax=docker/dockerfile:1.7
#
# One image for every Rapport service and for the monolith:
#   rapport serve <contacts|deals|tasks|comms|analytics|gateway>   (distributed, Kubernetes)
#   rapport run --data-dir /data ...                                (monolithic, the default CMD)
#   rapport migrate                                                 (schema + topics, Helm hook)
#
# Build (BuildKit; see docs/operations.md, "Container image"):
#   docker buildx build -t ghcr.io/rapport-crm/rapport:0.1.0 --build-arg VERSION=0.1.0 .
# The runtime image has no shell and no package manager and runs as uid/gid 65532.

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

# ----------------------------------------------------------------------------- build
FROM ${RUST_IMAGE} AS build

# C toolchain for the bundled native libraries (librdkafka, libsql/SQLite, zlib);
# protoc comes vendored through the protoc-bin-vendored crate.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc g++ make perl pkg-config \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Link zlib statically: the distroless runtime has no libz.so.
ENV LIBZ_SYS_STATIC=1 \
    CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0

COPY . .

# The registry and target directories are BuildKit caches, so a rebuild after a source
# change only recompiles what changed. --locked: exactly the versions of Cargo.lock.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p rapport \
 && mkdir -p /out/data \
 && cp target/release/rapport /out/rapport \
 && strip /out/rapport

# Fail the build, not the pod, when the binary needs a shared library the runtime lacks
# (distroless/cc has glibc, libgcc_s, libstdc++, libssl/libcrypto and nothing else).
RUN set -eu; ldd /out/rapport || true; \
    if ldd /out/rapport | grep '=>' \
         | grep -vE '/lib(c|m|dl|rt|pthread|gcc_s|stdc\+\+|ssl|crypto|util|resolv)\.so' ; then \
      echo "rapport links a shared library that gcr.io/distroless/cc-debian12 does not ship" >&2; exit 1; \
    fi; \
    /out/rapport --version || /out/rapport --help >/dev/null

# ----------------------------------------------------------------------------- runtime
FROM ${RUNTIME_IMAGE} AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="rapport" \
      org.opencontainers.image.description="Rapport CRM: every service in one binary" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=build --chown=0:0 --chmod=0755 /out/rapport /usr/local/bin/rapport
# The monolith's data directory, writable by the nonroot user (a volume in Kubernetes).
COPY --from=build --chown=65532:65532 /out/data /data

# distroless "nonroot": uid/gid 65532, no shell. Kubernetes enforces the same with
# runAsNonRoot, readOnlyRootFilesystem and dropped capabilities.
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]

# REST + UI (gateway / monolith), gRPC, Prometheus metrics, embedded Kafka (monolith).
EXPOSE 8080 50051 9090 9092

ENTRYPOINT ["/usr/local/bin/rapport"]
CMD ["run", "--data-dir", "/data", "--http-addr", "0.0.0.0:8080", "--kafka-addr", "0.0.0.0:9092"]
