# syntax=docker/dockerfile:1
#
# Hakanai: the wasm package, the web page and the server, built from source.
# `cargo build --release -p hakanai-server` builds the page too (server/build.rs runs
# `cargo xtask web`) and embeds it in the binary; the final image holds only that one binary
# and runs as an unprivileged user.
#
#   docker build -t hakanai .        # here, without Docker: cargo xtask image
#   docker run -p 8080:8080 -e HAKANAI_REDIS_DSN=redis://redis:6379/0 hakanai

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=trixie

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
# Trixie's nodejs (20) satisfies esbuild, TypeScript and binaryen from package-lock.json.
# Distribution packages are not pinned: Debian drops old versions from its mirrors, so a pin
# breaks the build; the release (trixie) is the pin.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm gzip ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# rust-src: the page's small wasm modules build their own standard library (xtask/src/wasm.rs).
RUN rustup target add wasm32-unknown-unknown \
    && rustup component add rust-src
# wasm-bindgen-cli must match the wasm-bindgen version in Cargo.lock exactly.
ARG WASM_BINDGEN_VERSION=0.2.126
ARG WASM_PACK_VERSION=0.15.1
RUN cargo install --locked wasm-bindgen-cli --version "${WASM_BINDGEN_VERSION}" \
    && cargo install --locked wasm-pack --version "${WASM_PACK_VERSION}"

WORKDIR /src
# npm dependencies first: their layer survives source changes. wasm-opt comes from binaryen.
ENV PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
ENV PATH="/src/node_modules/.bin:${PATH}"

COPY . .
# Cache mounts keep cargo's downloads and the target directory (with the page's own build in
# target/web-build) from one build to the next, so a rebuild after a source change is
# incremental; the binary leaves the cache by `install`.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p hakanai-server \
    && install -D target/release/hakanai-server /out/hakanai-server

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# curl serves the health check only; webhook TLS uses roots bundled in the binary.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin hakanai \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/hakanai
COPY --from=build /out/hakanai-server /usr/local/bin/hakanai-server

# Inside a container the server must listen on all interfaces; the published port decides
# who can reach it. Environment variables rather than arguments, so compose can override them.
ENV HAKANAI_LISTEN_ADDRESS=0.0.0.0 \
    HAKANAI_PORT=8080 \
    RUST_LOG=info
USER 10001:10001
# New admin/user tokens are never logged: with no terminal they go to hakanai-tokens (0600) in
# the working directory, which only the server's user may enter. Read them with
# `docker exec <container> cat /var/lib/hakanai/hakanai-tokens`, or mount a volume here.
WORKDIR /var/lib/hakanai
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["sh", "-c", "curl -fsS -o /dev/null \"http://127.0.0.1:${HAKANAI_PORT}/healthy\""]
ENTRYPOINT ["/usr/local/bin/hakanai-server"]
