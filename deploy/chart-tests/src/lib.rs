//! Tests of the deployment files; this library is empty.
//!
//! `tests/helm.rs` renders the Helm chart in `deploy/helm/hakanai` (Go templates, with the Helm
//! and sprig functions the chart uses implemented in the test) under the default values, the
//! production guide's `helm install --set` line and a few variations, and checks the rendered
//! Kubernetes objects; it validates `values.yaml` and the `--set` overrides against
//! `values.schema.json`, and checks the Bitnami Redis values the chart sets against the names
//! that chart uses. Where Helm itself can be loaded (`HELM_SDKPY_LIB`), it also runs Helm's own
//! lint on every variation.
