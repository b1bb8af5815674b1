//! Golden test: every spark-submit flag drover supports, rendered into EMR
//! on EKS's StartJobRun request, and checked against this backend's column
//! of docs/submit-flags.md. `BLESS=1` rewrites the golden file.

use std::path::Path;

use drover_plugin_sdk::DeployMode;
use drover_plugin_sdk::testing::{check_flags_column, flags_app, flags_doc, golden, settings, without_refused};

use crate::api::{self, RunOptions};
use crate::validate;

#[test]
fn every_submit_flag_renders_as_the_golden_and_the_docs_table_say() {
    let s = settings(&[("endpoint", "https://emr-containers.us-east-1.amazonaws.com")]);
    let doc = flags_doc(env!("CARGO_MANIFEST_DIR"));
    let app = flags_app("s3://bucket", DeployMode::Cluster);
    let problems = validate::problems(&s, &app);
    let opts = RunOptions {
        virtual_cluster_id: "vc1".into(),
        execution_role_arn: "arn:aws:iam::123456789012:role/job".into(),
        release_label: "emr-7.1.0-latest".into(),
        ..Default::default()
    };
    let request = api::start_job_run_request("k-1", &without_refused(app, &problems), &opts);
    let rendered = serde_json::to_string_pretty(&request).unwrap() + "\n";
    golden(&Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/submit-flags.cluster.json"), &rendered);
    check_flags_column(&doc, "EMR on EKS", DeployMode::Cluster, &problems, Some(&rendered));
}
