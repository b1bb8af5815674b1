//! Golden test: every spark-submit flag drover supports, rendered into the
//! REST server's CreateSubmissionRequest, and checked against this backend's
//! column of docs/submit-flags.md. `BLESS=1` rewrites the golden file.

use std::path::Path;

use drover_plugin_sdk::DeployMode;
use drover_plugin_sdk::testing::{check_flags_column, flags_app, flags_doc, golden, settings, without_refused};

use crate::{rest, validate};

#[test]
fn every_submit_flag_renders_as_the_golden_and_the_docs_table_say() {
    let s = settings(&[("master", "spark://m:7077"), ("rest_url", "http://m:6066")]);
    let doc = flags_doc(env!("CARGO_MANIFEST_DIR"));

    let app = flags_app("hdfs://nn", DeployMode::Cluster);
    let problems = validate::problems(&s, &app);
    let request = rest::create_request(&s, "spark://m:7077", "k-1", &without_refused(app, &problems)).unwrap();
    let rendered = serde_json::to_string_pretty(&request).unwrap() + "\n";
    golden(&Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/submit-flags.cluster.json"), &rendered);
    check_flags_column(&doc, "Spark standalone", DeployMode::Cluster, &problems, Some(&rendered));
    let client = validate::problems(&s, &flags_app("hdfs://nn", DeployMode::Client));
    check_flags_column(&doc, "Spark standalone", DeployMode::Client, &client, None);
}

/// Client mode is spark-submit on this machine, the same command line on
/// every Spark backend (`drover_plugin_sdk::spark::spark_submit_command`);
/// checked here through this backend's `submit`.
#[test]
fn every_submit_flag_reaches_the_client_mode_command_line() {
    use drover_plugin_sdk::backend::Backend;
    use drover_plugin_sdk::Submitted;

    let s = settings(&[("master", "spark://m:7077")]);
    let doc = flags_doc(env!("CARGO_MANIFEST_DIR"));
    let app = flags_app("hdfs://nn", DeployMode::Client);
    let Submitted::Local(launch) = crate::Standalone::submit(&s, "k-1", &app).unwrap() else {
        panic!("client mode runs a local spark-submit");
    };
    let mut rendered: String = launch.env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
    rendered.push_str(&launch.program);
    for a in &launch.args {
        rendered.push_str(" \\\n  ");
        rendered.push_str(a);
    }
    rendered.push('\n');
    golden(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/golden/submit-flags.client.txt"),
        &rendered,
    );
    check_flags_column(&doc, "client mode", DeployMode::Client, &[], Some(&rendered));
}
