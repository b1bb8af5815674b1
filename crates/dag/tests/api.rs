//! Behaviour of the public API beyond parsing: rendering, params, directories.

mod common;

use std::path::Path;

use chrono::{TimeZone, Utc};
use common::FakeBackends;
use drover_dag::{Dag, RenderContext, RenderError, load_dir, parse_str};
use serde_json::{Map, Value, json};

const WORDCOUNT: &str = r#"
id = "wordcount"

[params]
input = "data/words.txt"
top = { default = 10, type = "integer", minimum = 1, maximum = 100 }
mode = { default = "fast", type = "string", enum = ["fast", "slow"] }
day = { type = "string", required = true }

[[tasks]]
id = "count"
backend = "local"
[tasks.application]
resource = "/apps/wordcount.py"
args = ["{{ params.input }}", "{{ ds }}", "{{ params.top }}", "{{ conf.get('extra', 'none') }}"]
conf = { "spark.app.run" = "{{ run_id }}", "spark.try" = "{{ try_number }}" }
env = { OUT = "{{ conf.output }}", STAMP = "{{ ts_nodash }}" }
"#;

fn wordcount() -> Dag {
    parse_str(Path::new("dags/wordcount.toml"), WORDCOUNT, &FakeBackends)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn conf(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

fn context(dag: &Dag, trigger: Value) -> RenderContext {
    let conf = conf(trigger);
    RenderContext {
        dag_id: dag.id.clone(),
        task_id: "count".into(),
        run_id: "manual__1".into(),
        logical_date: Utc.with_ymd_and_hms(2026, 3, 14, 23, 30, 0).unwrap(),
        try_number: 2,
        params: dag
            .resolve_params(&conf)
            .unwrap_or_else(|e| panic!("{e:?}")),
        conf,
    }
}

#[test]
fn renders_params_overridden_by_conf_and_run_variables() {
    let dag = wordcount();
    let ctx = context(&dag, json!({"day": "mon", "top": 3, "output": "/tmp/out"}));
    let app = dag.task("count").unwrap().application.render(&ctx).unwrap();
    assert_eq!(app.args, ["data/words.txt", "2026-03-14", "3", "none"]);
    assert_eq!(app.conf["spark.app.run"], "manual__1");
    assert_eq!(app.conf["spark.try"], "2");
    assert_eq!(app.env["OUT"], "/tmp/out");
    assert_eq!(app.env["STAMP"], "20260314T233000");
}

#[test]
fn conf_get_returns_the_value_when_present() {
    let dag = wordcount();
    let ctx = context(&dag, json!({"day": "mon", "extra": "yes", "output": "o"}));
    let app = dag.task("count").unwrap().application.render(&ctx).unwrap();
    assert_eq!(app.args[3], "yes");
}

#[test]
fn rendering_fails_naming_a_missing_conf_key() {
    let dag = wordcount();
    let ctx = context(&dag, json!({"day": "mon"}));
    let err = dag
        .task("count")
        .unwrap()
        .application
        .render(&ctx)
        .unwrap_err();
    assert_eq!(
        err,
        RenderError::MissingConf {
            field: "env.OUT".into(),
            key: "output".into()
        }
    );
    assert!(err.to_string().contains("\"output\""), "{err}");
}

#[test]
fn resolve_params_fills_defaults_and_keeps_undeclared_conf_out_of_params() {
    let dag = wordcount();
    let params = dag
        .resolve_params(&conf(json!({"day": "tue", "extra": 1})))
        .unwrap();
    assert_eq!(
        Value::Object(params),
        json!({"input": "data/words.txt", "top": 10, "mode": "fast", "day": "tue"})
    );
}

#[test]
fn resolve_params_reports_every_problem_naming_its_param() {
    let dag = wordcount();
    let errors = dag
        .resolve_params(&conf(json!({"top": "many", "mode": "medium"})))
        .unwrap_err();
    let mut fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    fields.sort();
    assert_eq!(fields, ["day", "mode", "top"], "{errors:?}");
    let by_field = |f: &str| {
        errors
            .iter()
            .find(|e| e.field == f)
            .unwrap()
            .message
            .clone()
    };
    assert!(by_field("day").contains("required"), "{errors:?}");
    assert!(by_field("mode").contains("allowed values"), "{errors:?}");
    assert!(by_field("top").contains("integer"), "{errors:?}");
}

#[test]
fn resolve_params_checks_bounds() {
    let dag = wordcount();
    let errors = dag
        .resolve_params(&conf(json!({"day": "x", "top": 0})))
        .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "top");
    assert!(errors[0].message.contains("minimum"), "{errors:?}");
}

#[test]
fn tasks_come_in_dependency_order_and_know_their_downstream() {
    let text = r#"
        id = "order"
        [defaults]
        backend = "local"
        [[tasks]]
        id = "load"
        depends_on = ["transform"]
        application = { resource = "/l.jar" }
        [[tasks]]
        id = "transform"
        depends_on = ["extract"]
        application = { resource = "/t.jar" }
        [[tasks]]
        id = "extract"
        application = { resource = "/e.jar" }
        [[tasks]]
        id = "audit"
        depends_on = ["extract"]
        application = { resource = "/a.jar" }
    "#;
    let dag =
        parse_str(Path::new("order.toml"), text, &FakeBackends).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = dag.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["extract", "transform", "load", "audit"]);
    assert_eq!(dag.downstream("extract"), ["transform", "audit"]);
    assert!(dag.downstream("load").is_empty());
}

#[test]
fn loading_works_out_each_task_priority_from_its_weight_rule() {
    let text = r#"
        id = "weights"
        [defaults]
        backend = "local"
        priority_weight = 2
        [[tasks]]
        id = "extract"
        application = { resource = "/e.jar" }
        [[tasks]]
        id = "load"
        depends_on = ["extract"]
        priority_weight = -3
        weight_rule = "upstream"
        application = { resource = "/l.jar" }
        [[tasks]]
        id = "report"
        depends_on = ["load"]
        priority_weight = 10
        weight_rule = "absolute"
        application = { resource = "/r.jar" }
    "#;
    let dag =
        parse_str(Path::new("weights.toml"), text, &FakeBackends).unwrap_or_else(|e| panic!("{e}"));
    let priorities: Vec<(&str, i64)> =
        dag.tasks.iter().map(|t| (t.id.as_str(), t.effective_priority)).collect();
    assert_eq!(priorities, [("extract", 9), ("load", -1), ("report", 10)]);
    let extract = dag.task("extract").unwrap();
    assert_eq!((extract.pool.as_str(), extract.pool_slots), (drover_dag::DEFAULT_POOL, 1));
    assert!(!extract.depends_on_past);
}

#[test]
fn source_hash_changes_with_the_file() {
    let a = wordcount();
    let b = parse_str(
        Path::new("dags/wordcount.toml"),
        &format!("{WORDCOUNT}\n# edited\n"),
        &FakeBackends,
    )
    .unwrap();
    assert_eq!(a.source_hash.len(), 64);
    assert_ne!(a.source_hash, b.source_hash);
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("drover-dag-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const GOOD: &str = "id = \"good\"\n[[tasks]]\nid = \"a\"\nbackend = \"local\"\napplication = { resource = \"a.jar\" }\n";

#[test]
fn load_dir_keeps_loading_after_a_broken_file() {
    let dir = scratch_dir("broken");
    std::fs::write(dir.join("a_broken.toml"), "id = \"broken\"\nnonsense = 1\n").unwrap();
    std::fs::write(dir.join("b_good.toml"), GOOD).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a DAG").unwrap();
    let loaded = load_dir(&dir, &FakeBackends);
    assert_eq!(
        loaded
            .dags
            .iter()
            .map(|d| d.id.as_str())
            .collect::<Vec<_>>(),
        ["good"]
    );
    assert_eq!(loaded.errors.len(), 1);
    assert!(loaded.errors[0].file.ends_with("a_broken.toml"));
    assert!(
        loaded.errors[0]
            .to_string()
            .contains("unknown key \"nonsense\""),
        "{}",
        loaded.errors[0]
    );
    // Relative resources resolve against the DAG file's directory.
    assert_eq!(
        loaded.dags[0].tasks[0].application.resource,
        dir.join("a.jar").display().to_string()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_dir_rejects_a_second_file_with_the_same_dag_id() {
    let dir = scratch_dir("dup");
    std::fs::write(dir.join("first.toml"), GOOD).unwrap();
    std::fs::write(dir.join("second.toml"), format!("# same id\n{GOOD}")).unwrap();
    let loaded = load_dir(&dir, &FakeBackends);
    assert_eq!(loaded.dags.len(), 1);
    assert!(loaded.dags[0].file.ends_with("first.toml"));
    assert_eq!(loaded.errors.len(), 1);
    let d = &loaded.errors[0].diagnostics[0];
    assert!(d.file.ends_with("second.toml"));
    assert_eq!((d.line, d.col), (2, 6));
    assert!(
        d.message.contains("duplicate DAG id \"good\""),
        "{}",
        d.message
    );
    assert!(
        d.hint.as_deref().unwrap().contains("first.toml"),
        "{:?}",
        d.hint
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Regression: a folder holding only a symlink loop and a link to /dev/zero
/// loaded nothing and reported nothing.
#[test]
fn load_dir_reports_every_toml_entry_it_cannot_load_as_a_file() {
    let dir = scratch_dir("skipped");
    std::os::unix::fs::symlink(dir.join("loop.toml"), dir.join("loop.toml")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.toml")).unwrap();
    std::os::unix::fs::symlink(dir.join("missing"), dir.join("dangling.toml")).unwrap();
    std::fs::create_dir(dir.join("folder.toml")).unwrap();
    std::fs::write(dir.join("good.toml"), GOOD).unwrap();
    std::os::unix::fs::symlink(dir.join("loop.txt"), dir.join("loop.txt")).unwrap();
    let loaded = load_dir(&dir, &FakeBackends);
    assert_eq!(loaded.dags.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["good"]);
    let errors: Vec<(String, String)> = loaded
        .errors
        .iter()
        .map(|e| (e.file.file_name().unwrap().to_string_lossy().into_owned(), e.to_string()))
        .collect();
    let names: Vec<&str> = errors.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["dangling.toml", "folder.toml", "loop.toml", "zero.toml"], "{errors:#?}");
    for (name, want) in [
        ("dangling.toml", "a symlink to nothing"),
        ("folder.toml", "not a regular file (a directory)"),
        ("loop.toml", "a symlink that cannot be followed"),
        ("zero.toml", "not a regular file (a character device)"),
    ] {
        let (_, text) = errors.iter().find(|(n, _)| n == name).unwrap();
        assert!(text.contains("skipped") && text.contains(want), "{name}: {text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unreadable_file_is_one_diagnostic_at_the_start() {
    let err =
        drover_dag::load_file(Path::new("/nonexistent/drover/x.toml"), &FakeBackends).unwrap_err();
    assert_eq!(err.diagnostics.len(), 1);
    assert_eq!((err.diagnostics[0].line, err.diagnostics[0].col), (1, 1));
}

#[test]
fn rejects_python_in_cluster_mode_on_standalone() {
    let text = "id = \"py\"\n[[tasks]]\nid = \"a\"\nbackend = \"local\"\napplication = { resource = \"a.py\", deploy_mode = \"cluster\" }\n";
    let err = parse_str(Path::new("py.toml"), text, &FakeBackends).unwrap_err();
    assert_eq!(err.diagnostics.len(), 1, "{err}");
    let d = &err.diagnostics[0];
    assert!(
        d.message
            .contains("cannot run Python applications in cluster mode")
    );
    // Points at the deploy_mode value, where the fix goes.
    assert_eq!((d.line, d.col), (5, 50));
}

#[test]
fn unset_deploy_mode_defaults_to_one_the_backend_supports() {
    let text = "id = \"s\"\n[[tasks]]\nid = \"a\"\nbackend = \"serverless\"\napplication = { resource = \"/a.jar\" }\n";
    let dag = parse_str(Path::new("s.toml"), text, &FakeBackends).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        dag.tasks[0].application.deploy_mode,
        drover_dag::DeployMode::Service
    );
}
