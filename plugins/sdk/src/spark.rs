//! What an [`Application`] means to Spark: the properties it sets and the
//! spark-submit command line that runs it. Shared by every Spark backend so a
//! job means the same on each.

use crate::{Application, ConfigKey, LocalLaunch, Problem, Resources, Settings};

/// The setting every Spark backend reads its client-mode command from.
pub fn spark_submit_key() -> ConfigKey {
    ConfigKey::new(
        "spark_submit",
        "The client-mode command, split on whitespace; default \"spark-submit\".",
        false,
    )
}

/// The client-mode command the settings name.
pub fn spark_submit_program(settings: &Settings) -> &str {
    settings.get_or("spark_submit", "spark-submit")
}

/// The Spark properties an application sets: its `conf`, then the properties
/// its driver and executor resources stand for. A resource given as a field
/// overrides the same key in `conf`, as `--driver-memory` overrides
/// `--conf spark.driver.memory` in spark-submit.
pub fn spark_properties(app: &Application) -> Vec<(String, String)> {
    let mut props = Vec::new();
    for (k, v) in &app.conf {
        set(&mut props, k, v);
    }
    resource_properties(&mut props, "driver", &app.driver);
    resource_properties(&mut props, "executor", &app.executor);
    props
}

fn resource_properties(props: &mut Vec<(String, String)>, role: &str, r: &Resources) {
    if let Some(mb) = r.memory_mb {
        set(props, &format!("spark.{role}.memory"), &format!("{mb}m"));
    }
    if let Some(cores) = r.cores {
        set(props, &format!("spark.{role}.cores"), &cores.to_string());
    }
    // Spark has no driver instance count; `instances` means executors only.
    if let (Some(n), "executor") = (r.instances, role) {
        set(props, "spark.executor.instances", &n.to_string());
    }
}

/// Sets `key` in an ordered property list, replacing an earlier value in place.
pub fn set(props: &mut Vec<(String, String)>, key: &str, value: &str) {
    match props.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = value.to_string(),
        None => props.push((key.to_string(), value.to_string())),
    }
}

/// A Spark property a backend cannot honour, most often one that a
/// spark-submit flag stands for (drover's DAG fields `queue`, `keytab`, ...
/// are folded into these properties at load time). Refused by `validate`, so
/// the DAG fails to load with the reason instead of the cluster silently
/// ignoring the property.
pub struct Unsupported {
    /// The Spark property, e.g. "spark.yarn.queue".
    pub key: &'static str,
    /// Why this backend cannot honour it.
    pub why: &'static str,
    pub hint: &'static str,
}

/// Properties that only one kind of cluster honours, refused everywhere
/// else: the YARN queue, and the total-cores cap only Spark standalone's
/// master enforces.
pub const YARN_QUEUE: Unsupported = Unsupported {
    key: "spark.yarn.queue",
    why: "queues are YARN's; this cluster has none and would ignore it",
    hint: "remove `queue`; drover's pools limit how many tasks run at once",
};
pub const CORES_MAX: Unsupported = Unsupported {
    key: "spark.cores.max",
    why: "only Spark standalone's master caps an application's total cores; this cluster sizes executors by count",
    hint: "remove `total_executor_cores`; size with executor.instances and executor.cores, or dynamic_allocation",
};

/// A problem for each property of `unsupported` that `app` sets, on field
/// `conf.<key>` (which the DAG loader points at the flag's own line).
pub fn refuse(app: &Application, backend: &str, unsupported: &[Unsupported]) -> Vec<Problem> {
    unsupported
        .iter()
        .filter(|u| app.conf.iter().any(|(k, _)| k == u.key))
        .map(|u| {
            Problem::new(
                format!("conf.{}", u.key),
                format!("{} is not supported on {backend}: {}", u.key, u.why),
                u.hint,
            )
        })
        .collect()
}

/// A problem on `proxy_user` when `app` names one, for a cluster that cannot
/// run an application as another user: `why` says what it does instead.
pub fn refuse_proxy_user(app: &Application, backend: &str, why: &str, hint: &str) -> Option<Problem> {
    app.proxy_user.as_ref().map(|user| {
        Problem::new(
            "proxy_user",
            format!("proxy_user \"{user}\" is not supported on {backend}: {why}"),
            hint,
        )
    })
}

/// The spark-submit invocation for `app`.
///
/// `spark_submit` is the backend's command setting, split on whitespace: the
/// first word is the program, the rest come before spark-submit's own
/// arguments (so "/path/to/drover spark-submit" works). `extra_conf` is set
/// after the application's own properties and wins over them.
pub fn spark_submit_command(
    spark_submit: &str,
    master: &str,
    deploy_mode: &str,
    app: &Application,
    extra_conf: &[(String, String)],
) -> LocalLaunch {
    let mut words = spark_submit.split_whitespace().map(str::to_string);
    let program = words.next().unwrap_or_else(|| "spark-submit".to_string());
    let mut args: Vec<String> = words.collect();

    let mut push = |flag: &str, value: &str| {
        args.push(flag.to_string());
        args.push(value.to_string());
    };
    push("--master", master);
    push("--deploy-mode", deploy_mode);
    push("--name", &app.name);
    if let Some(user) = &app.proxy_user {
        push("--proxy-user", user);
    }
    if let Some(class) = &app.main_class {
        push("--class", class);
    }
    let mut props = spark_properties(app);
    for (k, v) in extra_conf {
        set(&mut props, k, v);
    }
    for (k, v) in &props {
        push("--conf", &format!("{k}={v}"));
    }
    for (flag, list) in [
        ("--jars", &app.jars),
        ("--files", &app.files),
        ("--py-files", &app.py_files),
    ] {
        if !list.is_empty() {
            push(flag, &list.join(","));
        }
    }
    args.push(app.resource.clone());
    args.extend(app.args.iter().cloned());

    LocalLaunch {
        program,
        args,
        env: app.env.clone(),
    }
}

/// A path or URI as Spark wants it in a property or REST request: a plain
/// absolute path becomes a `file:` URI (as spark-submit's `resolveURI` does);
/// anything with a scheme, or relative, is left alone.
pub fn resolve_uri(path: &str) -> String {
    if path.starts_with('/') {
        format!("file:{path}")
    } else {
        path.to_string()
    }
}

/// The file extension of a resource path or URI, lower-cased, without the
/// query or fragment: `"hdfs://nn/a/job.PY?x"` → `Some("py")`.
pub fn extension(resource: &str) -> Option<String> {
    let path = resource.split(['?', '#']).next().unwrap_or_default();
    let name = path.rsplit('/').next().unwrap_or_default();
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::app;

    #[test]
    fn resource_fields_override_conf_in_place() {
        let props = spark_properties(&app());
        let expected: Vec<(String, String)> = [
            ("spark.sql.shuffle.partitions", "8"),
            ("spark.driver.memory", "1024m"),
            ("spark.driver.cores", "1"),
            ("spark.executor.memory", "2048m"),
            ("spark.executor.cores", "2"),
            ("spark.executor.instances", "3"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(props, expected);
    }

    #[test]
    fn spark_submit_command_is_a_real_command_line() {
        let key = [("spark.drover.submissionKey".to_string(), "k-1".to_string())];
        let launch = spark_submit_command(
            "/path/to/drover  spark-submit",
            "spark://m:7077",
            "client",
            &app(),
            &key,
        );
        assert_eq!(launch.program, "/path/to/drover");
        assert_eq!(
            launch.args.join(" "),
            "spark-submit --master spark://m:7077 --deploy-mode client --name nightly etl \
             --class com.example.Etl --conf spark.sql.shuffle.partitions=8 \
             --conf spark.driver.memory=1024m --conf spark.driver.cores=1 \
             --conf spark.executor.memory=2048m --conf spark.executor.cores=2 \
             --conf spark.executor.instances=3 --conf spark.drover.submissionKey=k-1 \
             --jars /libs/a.jar,hdfs://nn/b.jar /jobs/etl.jar --day 2026-01-01"
        );
        // The name is one argument even with a space in it.
        assert!(launch.args.contains(&"nightly etl".to_string()));
        assert_eq!(launch.env, vec![("TZ".to_string(), "UTC".to_string())]);
    }

    #[test]
    fn python_apps_get_py_files_and_no_class() {
        let mut a = app();
        a.resource = "local:///app/main.py".into();
        a.main_class = None;
        a.jars.clear();
        a.py_files = vec!["deps.zip".into(), "util.py".into()];
        a.files = vec!["conf.yaml".into()];
        let args = spark_submit_command("spark-submit", "yarn", "cluster", &a, &[]).args;
        assert!(!args.contains(&"--class".to_string()));
        let tail = args[args.len() - 7..].join(" ");
        assert_eq!(
            tail,
            "--files conf.yaml --py-files deps.zip,util.py local:///app/main.py --day 2026-01-01"
        );
    }

    #[test]
    fn blank_spark_submit_setting_falls_back_to_spark_submit() {
        assert_eq!(
            spark_submit_command("  ", "local", "client", &app(), &[]).program,
            "spark-submit"
        );
    }

    #[test]
    fn uris_and_extensions() {
        assert_eq!(resolve_uri("/a/b.jar"), "file:/a/b.jar");
        assert_eq!(resolve_uri("hdfs://nn/b.jar"), "hdfs://nn/b.jar");
        assert_eq!(extension("hdfs://nn/a/job.PY?x=1"), Some("py".into()));
        assert_eq!(extension("/a/.hidden"), None);
        assert_eq!(extension("/a.b/run"), None);
    }
}
