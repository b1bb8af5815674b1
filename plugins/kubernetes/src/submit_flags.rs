//! Golden test: every spark-submit flag drover supports, rendered into the
//! driver pod, and checked against this backend's column of
//! docs/submit-flags.md. `BLESS=1` rewrites the golden file.

use std::path::Path;

use drover_plugin_sdk::DeployMode;
use drover_plugin_sdk::testing::{check_flags_column, flags_app, flags_doc, golden, settings, without_refused};

use crate::pod::{self, PodSettings};
use crate::validate;

#[test]
fn every_submit_flag_renders_as_the_golden_and_the_docs_table_say() {
    let s = settings(&[
        ("api_url", "https://k8s.example:6443"),
        ("namespace", "spark"),
        ("image", "registry/spark:4"),
    ]);
    let doc = flags_doc(env!("CARGO_MANIFEST_DIR"));
    let base = "s3a://bucket";

    let app = flags_app(base, DeployMode::Cluster);
    let problems = validate::problems(&s, &app);
    let key = "drover-0123456789abcdef0123456789abcdef";
    let ps = PodSettings::from_settings(&s).unwrap();
    let driver = pod::driver_pod(&ps, key, &without_refused(app, &problems)).unwrap();
    let rendered = serde_json::to_string_pretty(&driver).unwrap() + "\n";
    golden(&Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/submit-flags.cluster.json"), &rendered);
    check_flags_column(&doc, "Kubernetes", DeployMode::Cluster, &problems, Some(&rendered));
    let client = validate::problems(&s, &flags_app(base, DeployMode::Client));
    check_flags_column(&doc, "Kubernetes", DeployMode::Client, &client, None);
}
