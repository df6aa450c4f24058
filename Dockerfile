# The rollout-rs controller image: `rollout-rs` built as a static musl binary, on distroless.
#
#   docker build -t REGISTRY/rollout-rs:VERSION .
#   docker build --target gitops -t REGISTRY/rollout-rs:VERSION-gitops .
#
# The default image (last stage) has no shell and no git: enough for the rollout and analysis
# controllers. The Git reconciler (`--gitops`, the chart's gitops.enabled) runs the git CLI (and
# ssh for ssh:// repositories): build the `gitops` target for it. Neither has kustomize or helm,
# which GitSyncs with Kustomize or Helm sources need on PATH: add them to the gitops stage.
#
# The build machines of this repository reach no container registry, so this file is not built
# by its CI; the chart (charts/rollout-rs) takes the image repository and tag as values.

ARG RUST_VERSION=1.89

FROM rust:${RUST_VERSION}-bookworm AS builder
# musl-gcc for the C parts (aws-lc, the TLS provider) of a fully static binary.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
# Without default features: the production binary leaves out the simulated cluster (`sim`,
# what `rollout-rs dev` runs).
RUN cargo build --release --locked --no-default-features \
      --bin rollout-rs -p rollout-rs-controller --target x86_64-unknown-linux-musl \
 && install -D -m 0755 target/x86_64-unknown-linux-musl/release/rollout-rs /out/rollout-rs

# With git, for the Git reconciler. Same user as distroless' nonroot.
FROM debian:bookworm-slim AS gitops
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin nonroot
COPY --from=builder /out/rollout-rs /usr/local/bin/rollout-rs
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/rollout-rs"]
CMD ["controller"]

# The default image: CA certificates, /etc/passwd with nonroot (65532), nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=builder /out/rollout-rs /rollout-rs
USER 65532:65532
ENTRYPOINT ["/rollout-rs"]
CMD ["controller"]
