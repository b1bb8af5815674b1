//! Golden test: every spark-submit flag drover supports, rendered into the
//! ResourceManager's application submission context, and checked against
//! this backend's column of docs/submit-flags.md. `BLESS=1` rewrites the
//! golden file.

use std::path::Path;

use drover_plugin_sdk::DeployMode;
use drover_plugin_sdk::testing::{check_flags_column, flags_app, flags_doc, golden, settings, without_refused};

use crate::{submission_url, submit, validate};

#[test]
fn every_submit_flag_renders_as_the_golden_and_the_docs_table_say() {
    let s = settings(&[("rm_url", "http://rm:8088")]);
    let doc = flags_doc(env!("CARGO_MANIFEST_DIR"));

    let app = flags_app("hdfs://nn", DeployMode::Cluster);
    let problems = validate::problems(&s, &app);
    let context =
        submit::submission_context(&s, "application_1767225600000_0001", "k-1", &without_refused(app, &problems))
            .unwrap();
    let app = without_refused(flags_app("hdfs://nn", DeployMode::Cluster), &problems);
    let rendered = format!(
        "POST {}\n{}\n",
        submission_url(&s, &app).unwrap(),
        serde_json::to_string_pretty(&context).unwrap()
    );
    golden(&Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/submit-flags.cluster.txt"), &rendered);
    check_flags_column(&doc, "YARN", DeployMode::Cluster, &problems, Some(&rendered));
    let client = validate::problems(&s, &flags_app("hdfs://nn", DeployMode::Client));
    check_flags_column(&doc, "YARN", DeployMode::Client, &client, None);
}
