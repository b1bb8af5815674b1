//! The ResourceManager's submission protocol: the application submission
//! context `POST /ws/v1/cluster/apps` takes, built the way Spark's YARN client
//! (`org.apache.spark.deploy.yarn.Client`) builds it, with no I/O.

use drover_plugin_sdk::spark::{extension, set, spark_properties};
use drover_plugin_sdk::{Application, PluginError, Settings};
use serde::{Deserialize, Serialize};

/// The application tag that carries drover's submission key. YARN lowercases
/// tags (drover's keys are lowercase already) and caps them at 100 characters.
pub const TAG_PREFIX: &str = "drover-key:";
/// The Spark property that carries the key too, as on every Spark backend.
pub const SUBMISSION_KEY_PROPERTY: &str = "spark.drover.submissionKey";
pub const DEFAULT_QUEUE: &str = "default";
pub const DEFAULT_MAX_APP_ATTEMPTS: u32 = 2;
/// Spark's `spark.driver.memory` default, in MiB.
const DEFAULT_DRIVER_MEMORY_MB: u64 = 1024;
/// Spark's minimum container memory overhead (`MEMORY_OVERHEAD_MIN`), in MiB.
const MIN_MEMORY_OVERHEAD_MB: u64 = 384;
const AM_CLASS: &str = "org.apache.spark.deploy.yarn.ApplicationMaster";
const PYTHON_RUNNER: &str = "org.apache.spark.deploy.PythonRunner";

/// The tag every drover submission carries besides its key tag, so that one
/// `GET /ws/v1/cluster/apps?applicationTags=drover` lists them all.
pub const COMMON_TAG: &str = "drover";

pub fn tag(key: &str) -> String {
    format!("{TAG_PREFIX}{}", key.to_ascii_lowercase())
}

/// Every tag of a submission: the key's and [`COMMON_TAG`].
pub fn tags(key: &str) -> Vec<String> {
    vec![tag(key), COMMON_TAG.to_string()]
}

/// The same tags as `spark.yarn.tags` takes them (comma-separated).
pub fn spark_yarn_tags(key: &str) -> String {
    tags(key).join(",")
}

/// `POST /ws/v1/cluster/apps/new-application`'s reply.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct NewApplication {
    #[serde(rename = "application-id")]
    pub application_id: String,
    #[serde(rename = "maximum-resource-capability", default)]
    pub maximum_resource_capability: Option<Capability>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Capability {
    #[serde(default, deserialize_with = "crate::report::lenient_u64")]
    pub memory: Option<u64>,
    #[serde(
        rename = "vCores",
        default,
        deserialize_with = "crate::report::lenient_u64"
    )]
    pub v_cores: Option<u64>,
}

/// `ApplicationSubmissionContextInfo`, field for field (the RM's JAXB names).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct SubmissionContext {
    pub application_id: String,
    pub application_name: String,
    pub queue: String,
    pub priority: i32,
    pub am_container_spec: AmContainerSpec,
    #[serde(rename = "unmanaged-AM")]
    pub unmanaged_am: bool,
    pub max_app_attempts: u32,
    pub resource: ResourceInfo,
    pub application_type: &'static str,
    pub keep_containers_across_application_attempts: bool,
    /// JAXB's `@XmlElementWrapper("application-tags") @XmlElement("tag")`.
    pub application_tags: Tags,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Tags {
    pub tag: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct AmContainerSpec {
    pub local_resources: Entries<LocalResource>,
    pub environment: Entries<String>,
    pub commands: Commands,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Entries<T> {
    pub entry: Vec<Entry<T>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Entry<T> {
    pub key: String,
    pub value: T,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LocalResource {
    pub resource: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub visibility: &'static str,
    pub size: i64,
    pub timestamp: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Commands {
    pub command: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ResourceInfo {
    pub memory: u64,
    #[serde(rename = "vCores")]
    pub v_cores: u32,
}

/// The queue: `spark.yarn.queue` (spark-submit's `--queue`), else the
/// backend's `queue` setting, else "default".
pub fn queue<'a>(settings: &'a Settings, app: &'a Application) -> &'a str {
    conf(app, "spark.yarn.queue")
        .or_else(|| settings.get("queue"))
        .unwrap_or(DEFAULT_QUEUE)
}

/// `spark.yarn.maxAppAttempts`, else the backend's `max_app_attempts`, else 2.
pub fn max_app_attempts(settings: &Settings, app: &Application) -> Result<u32, PluginError> {
    let (source, value) = match conf(app, "spark.yarn.maxAppAttempts") {
        Some(v) => ("conf spark.yarn.maxAppAttempts", v),
        None => match settings.get("max_app_attempts") {
            Some(v) => ("the backend setting `max_app_attempts`", v),
            None => return Ok(DEFAULT_MAX_APP_ATTEMPTS),
        },
    };
    match value.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(PluginError::Invalid(format!(
            "{source} must be a whole number of at least 1, not {value:?}"
        ))),
    }
}

fn conf<'a>(app: &'a Application, key: &str) -> Option<&'a str> {
    app.conf
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Spark's memory strings in MiB (`512m`, `2g`, a bare number is MiB), rounded
/// down. No `p` unit: such a size is refused as not a memory size.
pub fn memory_mb(s: &str) -> Option<u64> {
    use drover_spark_units::{Memory, Unit};
    Memory::parse(s).filter(|m| m.unit != Unit::Pib)?.mib()
}

/// The AM container's resource in cluster mode: the driver's memory plus
/// Spark's overhead (`spark.driver.memoryOverhead`, else 10% with a 384 MiB
/// floor), and the driver's cores.
pub fn am_resource(app: &Application) -> Result<ResourceInfo, PluginError> {
    let props = spark_properties(app);
    let get = |k: &str| {
        props
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let parse_mem = |k: &str| -> Result<Option<u64>, PluginError> {
        get(k)
            .map(|v| {
                memory_mb(v).ok_or_else(|| {
                    PluginError::Invalid(format!(
                        "{k} = {v:?} is not a memory size like 512m or 2g"
                    ))
                })
            })
            .transpose()
    };
    let driver = parse_mem("spark.driver.memory")?.unwrap_or(DEFAULT_DRIVER_MEMORY_MB);
    let overhead = match parse_mem("spark.driver.memoryOverhead")? {
        Some(mb) => mb,
        None => (driver / 10).max(MIN_MEMORY_OVERHEAD_MB),
    };
    let cores = match get("spark.driver.cores") {
        None => 1,
        Some(v) => v
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|c| *c >= 1)
            .ok_or_else(|| {
                PluginError::Invalid(format!(
                    "spark.driver.cores = {v:?} is not a whole number of at least 1"
                ))
            })?,
    };
    Ok(ResourceInfo {
        memory: driver + overhead,
        v_cores: cores,
    })
}

/// POSIX shell quoting: YARN writes the command into a bash launch script.
pub fn shell_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// Java options split into words as Spark's `Utils.splitCommandString`
/// does: on whitespace, keeping single- or double-quoted runs together
/// (quotes removed, a backslash escaping the next character in double quotes).
pub fn split_command_string(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let (mut word, mut in_word) = (String::new(), false);
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => word.extend(chars.next()),
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

pub fn is_python(app: &Application) -> bool {
    extension(&app.resource).as_deref() == Some("py")
}

/// The Spark properties the driver runs with in cluster mode: the
/// application's, plus what spark-submit itself would set.
pub fn cluster_properties(
    settings: &Settings,
    key: &str,
    app: &Application,
) -> Result<Vec<(String, String)>, PluginError> {
    let mut props = spark_properties(app);
    set(&mut props, "spark.app.name", &app.name);
    set(&mut props, "spark.master", "yarn");
    set(&mut props, "spark.submit.deployMode", "cluster");
    set(&mut props, "spark.yarn.queue", queue(settings, app));
    set(
        &mut props,
        "spark.yarn.maxAppAttempts",
        &max_app_attempts(settings, app)?.to_string(),
    );
    set(&mut props, "spark.yarn.tags", &spark_yarn_tags(key));
    set(&mut props, SUBMISSION_KEY_PROPERTY, key);
    if !app.jars.is_empty() {
        set(&mut props, "spark.jars", &app.jars.join(","));
    }
    if !app.files.is_empty() {
        set(&mut props, "spark.files", &app.files.join(","));
    }
    if !app.py_files.is_empty() {
        set(&mut props, "spark.submit.pyFiles", &app.py_files.join(","));
    }
    Ok(props)
}

/// The ApplicationMaster's launch command, as Spark's
/// `Client.createContainerLaunchContext` writes it. Spark ships its
/// properties in a `__spark_conf__` archive it uploads to the cluster's file
/// system; this plugin cannot upload, so the properties travel as `-D` system
/// properties, which the AM's `new SparkConf()` reads the same way.
pub fn am_command(app: &Application, props: &[(String, String)], memory_mb: u64) -> String {
    let mut words: Vec<String> = vec![
        "{{JAVA_HOME}}/bin/java".into(),
        "-server".into(),
        format!("-Xmx{memory_mb}m"),
        "-Djava.io.tmpdir={{PWD}}/tmp".into(),
    ];
    // The driver runs in this JVM, so its java options go on the command
    // line itself, as Spark's Client puts them in cluster mode; as a
    // -D property they would come too late to matter.
    if let Some((_, opts)) = props.iter().find(|(k, _)| k == "spark.driver.extraJavaOptions") {
        words.extend(split_command_string(opts).iter().map(|w| shell_quote(w)));
    }
    for (k, v) in props {
        if k.starts_with("spark.") {
            words.push(shell_quote(&format!("-D{k}={v}")));
        }
    }
    words.push("-Dspark.yarn.app.container.log.dir=<LOG_DIR>".into());
    words.push(AM_CLASS.into());
    if is_python(app) {
        words.push("--class".into());
        words.push(shell_quote(PYTHON_RUNNER));
        words.push("--primary-py-file".into());
        words.push(shell_quote(&app.resource));
    } else {
        if let Some(class) = app.main_class.as_deref().filter(|c| !c.trim().is_empty()) {
            words.push("--class".into());
            words.push(shell_quote(class));
        }
        words.push("--jar".into());
        words.push(shell_quote(&app.resource));
    }
    for a in &app.args {
        words.push("--arg".into());
        words.push(shell_quote(a));
    }
    words.push("1><LOG_DIR>/stdout".into());
    words.push("2><LOG_DIR>/stderr".into());
    words.join(" ")
}

/// The submission context for a cluster-mode application.
pub fn submission_context(
    settings: &Settings,
    application_id: &str,
    key: &str,
    app: &Application,
) -> Result<SubmissionContext, PluginError> {
    let props = cluster_properties(settings, key, app)?;
    let resource = am_resource(app)?;
    let heap = am_heap_mb(app);

    // spark.driver.extraClassPath comes first, as Spark's Client puts it:
    // the driver runs in the ApplicationMaster's JVM.
    let extra_class_path = conf(app, "spark.driver.extraClassPath")
        .map(|cp| format!("{cp}<CPS>"))
        .unwrap_or_default();
    let mut environment: Vec<Entry<String>> = vec![Entry {
        key: "CLASSPATH".into(),
        value: format!(
            "{extra_class_path}{{{{PWD}}}}<CPS>{{{{PWD}}}}/__spark_conf__<CPS>{{{{PWD}}}}/__spark_libs__/*<CPS>{{{{PWD}}}}/__app__.jar"
        ),
    }];
    environment.push(Entry {
        key: "SPARK_YARN_MODE".into(),
        value: "true".into(),
    });
    // The user the application runs as: the proxy user the submission
    // impersonates (`doAs`), else the submitting user.
    if let Some(user) = app.proxy_user.as_deref().or(settings.get("user")) {
        environment.push(Entry {
            key: "SPARK_USER".into(),
            value: user.into(),
        });
    }
    for (k, v) in &app.env {
        environment.retain(|e| &e.key != k);
        environment.push(Entry {
            key: k.clone(),
            value: v.clone(),
        });
    }

    let mut local_resources = Vec::new();
    let cache = cache_entries(app);
    // `local:` resources are already on every node: Spark localizes nothing for them.
    if !app.resource.starts_with("local:") {
        let staged = cache.iter().find(|c| c.uri == app.resource);
        let name = if is_python(app) {
            app.resource
                .rsplit('/')
                .next()
                .unwrap_or("app.py")
                .to_string()
        } else {
            "__app__.jar".to_string()
        };
        local_resources.push(Entry {
            key: name,
            value: LocalResource {
                resource: app.resource.clone(),
                kind: "FILE",
                visibility: "APPLICATION",
                size: staged.map_or(0, |c| c.size),
                timestamp: staged.map_or(0, |c| c.timestamp),
            },
        });
    }
    // The other staged files (jars, py-files, files) the AM reads.
    for c in cache.iter().filter(|c| c.uri != app.resource) {
        local_resources.push(Entry {
            key: c.name.clone(),
            value: LocalResource {
                resource: c.uri.clone(),
                kind: c.kind,
                visibility: c.visibility,
                size: c.size,
                timestamp: c.timestamp,
            },
        });
    }
    if let Some(archive) = conf(app, "spark.yarn.archive") {
        local_resources.push(Entry {
            key: "__spark_libs__".into(),
            value: LocalResource {
                resource: archive.into(),
                kind: "ARCHIVE",
                visibility: "PUBLIC",
                size: 0,
                timestamp: 0,
            },
        });
    }

    Ok(SubmissionContext {
        application_id: application_id.into(),
        application_name: app.name.clone(),
        queue: queue(settings, app).into(),
        priority: 0,
        am_container_spec: AmContainerSpec {
            local_resources: Entries {
                entry: local_resources,
            },
            environment: Entries { entry: environment },
            commands: Commands {
                command: am_command(app, &props, heap),
            },
        },
        unmanaged_am: false,
        max_app_attempts: max_app_attempts(settings, app)?,
        resource,
        application_type: "SPARK",
        keep_containers_across_application_attempts: false,
        application_tags: Tags { tag: tags(key) },
    })
}

/// One staged file as `spark.yarn.cache.*` records it (drover's host writes
/// these when it stages an application's local files, the way Spark's YARN
/// client does): where it is, the name it is localized under, and the size
/// and modification time the NodeManager checks.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheEntry {
    pub uri: String,
    pub name: String,
    pub size: i64,
    pub timestamp: i64,
    pub kind: &'static str,
    pub visibility: &'static str,
}

/// The entries of `spark.yarn.cache.*`; none when they are missing or do not line up.
pub fn cache_entries(app: &Application) -> Vec<CacheEntry> {
    let list = |k: &str| -> Vec<&str> { conf(app, k).map(|v| v.split(',').map(str::trim).collect()).unwrap_or_default() };
    let (names, sizes, times) = (list("spark.yarn.cache.filenames"), list("spark.yarn.cache.sizes"), list("spark.yarn.cache.timestamps"));
    let (kinds, vis) = (list("spark.yarn.cache.types"), list("spark.yarn.cache.visibilities"));
    if names.len() != sizes.len() || names.len() != times.len() {
        return Vec::new();
    }
    names
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let (uri, name) = match f.split_once('#') {
                Some((u, n)) => (u, n),
                None => (*f, f.rsplit('/').next().unwrap_or(f)),
            };
            Some(CacheEntry {
                uri: uri.to_string(),
                name: name.to_string(),
                size: sizes[i].parse().ok()?,
                timestamp: times[i].parse().ok()?,
                kind: if kinds.get(i) == Some(&"ARCHIVE") { "ARCHIVE" } else { "FILE" },
                visibility: match vis.get(i) {
                    Some(&"PUBLIC") => "PUBLIC",
                    Some(&"APPLICATION") => "APPLICATION",
                    _ => "PRIVATE",
                },
            })
        })
        .collect()
}

/// The driver's heap (`-Xmx`): `spark.driver.memory`, 1024 MiB by default.
fn am_heap_mb(app: &Application) -> u64 {
    spark_properties(app)
        .iter()
        .find(|(k, _)| k == "spark.driver.memory")
        .and_then(|(_, v)| memory_mb(v))
        .unwrap_or(DEFAULT_DRIVER_MEMORY_MB)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use drover_plugin_sdk::{DeployMode, Resources};
    use serde_json::json;

    pub fn app() -> Application {
        Application {
            name: "nightly etl".into(),
            resource: "hdfs://nn/jobs/etl.jar".into(),
            main_class: Some("com.example.Etl".into()),
            args: vec!["--day".into(), "it's 2026".into()],
            conf: vec![("spark.sql.shuffle.partitions".into(), "8".into())],
            deploy_mode: DeployMode::Cluster,
            driver: Resources {
                memory_mb: Some(2048),
                cores: Some(2),
                instances: None,
            },
            executor: Resources {
                memory_mb: Some(4096),
                cores: Some(3),
                instances: Some(5),
            },
            jars: vec![],
            files: vec![],
            py_files: vec![],
            env: vec![("TZ".into(), "UTC".into())],
            proxy_user: None,
        }
    }

    pub fn settings(extra: &[(&str, &str)]) -> Settings {
        let mut pairs = vec![("rm_url".to_string(), "http://rm:8088".to_string())];
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Settings::new(pairs)
    }

    #[test]
    fn submission_context_has_the_rms_field_names() {
        let ctx = submission_context(
            &settings(&[("queue", "etl")]),
            "application_1_0001",
            "drover-abc",
            &app(),
        )
        .unwrap();
        let v = serde_json::to_value(&ctx).unwrap();
        assert_eq!(v["application-id"], "application_1_0001");
        assert_eq!(v["application-name"], "nightly etl");
        assert_eq!(v["queue"], "etl");
        assert_eq!(v["application-type"], "SPARK");
        assert_eq!(v["max-app-attempts"], 2);
        assert_eq!(v["unmanaged-AM"], false);
        assert_eq!(v["keep-containers-across-application-attempts"], false);
        // --driver-memory 2g plus max(384, 10%) overhead; --driver-cores 2.
        assert_eq!(v["resource"], json!({"memory": 2048 + 384, "vCores": 2}));
        assert_eq!(
            v["application-tags"],
            json!({"tag": ["drover-key:drover-abc", "drover"]})
        );
        assert_eq!(
            v["am-container-spec"]["local-resources"],
            json!({"entry": [{"key": "__app__.jar", "value": {
                "resource": "hdfs://nn/jobs/etl.jar", "type": "FILE", "visibility": "APPLICATION",
                "size": 0, "timestamp": 0}}]})
        );
        let env = &v["am-container-spec"]["environment"]["entry"];
        assert!(
            env.as_array()
                .unwrap()
                .contains(&json!({"key": "TZ", "value": "UTC"})),
            "{env}"
        );
    }

    #[test]
    fn staged_files_carry_their_real_size_and_time_into_local_resources() {
        // Issue 15: local resources went out with size and timestamp 0,
        // which a NodeManager refuses for anything but pre-placed files.
        let mut a = app();
        a.resource = "hdfs://nn/st/drover-k/job.jar".into();
        a.conf.extend([
            ("spark.yarn.cache.filenames".into(), "hdfs://nn/st/drover-k/job.jar#job.jar,hdfs://nn/st/drover-k/dep.py#dep.py".into()),
            ("spark.yarn.cache.sizes".into(), "1234,56".into()),
            ("spark.yarn.cache.timestamps".into(), "1700000000123,1700000000456".into()),
            ("spark.yarn.cache.visibilities".into(), "PRIVATE,PRIVATE".into()),
            ("spark.yarn.cache.types".into(), "FILE,FILE".into()),
        ]);
        let ctx = submission_context(&settings(&[]), "application_1_0001", "k", &a).unwrap();
        let v = serde_json::to_value(&ctx).unwrap();
        assert_eq!(
            v["am-container-spec"]["local-resources"],
            json!({"entry": [
                {"key": "__app__.jar", "value": {"resource": "hdfs://nn/st/drover-k/job.jar", "type": "FILE",
                    "visibility": "APPLICATION", "size": 1234, "timestamp": 1700000000123_i64}},
                {"key": "dep.py", "value": {"resource": "hdfs://nn/st/drover-k/dep.py", "type": "FILE",
                    "visibility": "PRIVATE", "size": 56, "timestamp": 1700000000456_i64}},
            ]})
        );
    }

    #[test]
    fn staged_archives_are_archive_resources_named_by_their_alias() {
        // `spark.archives` staged by the host: the NodeManager unpacks an
        // ARCHIVE into a directory of the entry's name, as Spark's Client
        // asks for `--archives`.
        let mut a = app();
        a.resource = "hdfs://nn/st/drover-k/job.jar".into();
        a.conf.extend([
            ("spark.archives".into(), "hdfs://nn/st/drover-k/env.tar.gz#env".into()),
            ("spark.yarn.cache.filenames".into(), "hdfs://nn/st/drover-k/job.jar#job.jar,hdfs://nn/st/drover-k/env.tar.gz#env".into()),
            ("spark.yarn.cache.sizes".into(), "1234,789".into()),
            ("spark.yarn.cache.timestamps".into(), "1700000000123,1700000000789".into()),
            ("spark.yarn.cache.visibilities".into(), "PRIVATE,PRIVATE".into()),
            ("spark.yarn.cache.types".into(), "FILE,ARCHIVE".into()),
        ]);
        let ctx = submission_context(&settings(&[]), "application_1_0001", "k", &a).unwrap();
        let v = serde_json::to_value(&ctx).unwrap();
        assert_eq!(
            v["am-container-spec"]["local-resources"]["entry"][1],
            json!({"key": "env", "value": {"resource": "hdfs://nn/st/drover-k/env.tar.gz", "type": "ARCHIVE",
                "visibility": "PRIVATE", "size": 789, "timestamp": 1700000000789_i64}})
        );
    }

    #[test]
    fn am_command_is_the_one_spark_builds() {
        let ctx =
            submission_context(&settings(&[]), "application_1_0001", "drover-abc", &app()).unwrap();
        let cmd = ctx.am_container_spec.commands.command;
        assert!(
            cmd.starts_with(
                "{{JAVA_HOME}}/bin/java -server -Xmx2048m -Djava.io.tmpdir={{PWD}}/tmp "
            ),
            "{cmd}"
        );
        assert!(
            cmd.ends_with(
                "-Dspark.yarn.app.container.log.dir=<LOG_DIR> org.apache.spark.deploy.yarn.ApplicationMaster \
                 --class 'com.example.Etl' --jar 'hdfs://nn/jobs/etl.jar' --arg '--day' --arg 'it'\\''s 2026' \
                 1><LOG_DIR>/stdout 2><LOG_DIR>/stderr"
            ),
            "{cmd}"
        );
        // spark-submit's flags arrive as the properties they set.
        for p in [
            "'-Dspark.executor.instances=5'",
            "'-Dspark.executor.cores=3'",
            "'-Dspark.executor.memory=4096m'",
            "'-Dspark.driver.memory=2048m'",
            "'-Dspark.yarn.queue=default'",
            "'-Dspark.submit.deployMode=cluster'",
            "'-Dspark.app.name=nightly etl'",
            "'-Dspark.drover.submissionKey=drover-abc'",
        ] {
            assert!(cmd.contains(p), "{p} missing from {cmd}");
        }
    }

    #[test]
    fn python_apps_run_through_the_python_runner() {
        let mut a = app();
        a.resource = "local:/opt/jobs/main.py".into();
        a.main_class = None;
        let ctx = submission_context(&settings(&[]), "application_1_0001", "k", &a).unwrap();
        assert!(ctx.am_container_spec.commands.command.contains(
            "--class 'org.apache.spark.deploy.PythonRunner' --primary-py-file 'local:/opt/jobs/main.py'"
        ));
        assert!(ctx.am_container_spec.local_resources.entry.is_empty());
    }

    #[test]
    fn queue_and_attempts_come_from_conf_then_settings_then_defaults() {
        let mut a = app();
        let s = settings(&[("queue", "etl"), ("max_app_attempts", "4")]);
        assert_eq!(
            (queue(&s, &a), max_app_attempts(&s, &a).unwrap()),
            ("etl", 4)
        );
        a.conf.push(("spark.yarn.queue".into(), "adhoc".into()));
        a.conf
            .push(("spark.yarn.maxAppAttempts".into(), "1".into()));
        assert_eq!(
            (queue(&s, &a), max_app_attempts(&s, &a).unwrap()),
            ("adhoc", 1)
        );
        let bare = settings(&[]);
        assert_eq!(
            (
                queue(&bare, &app()),
                max_app_attempts(&bare, &app()).unwrap()
            ),
            ("default", 2)
        );
        assert!(max_app_attempts(&settings(&[("max_app_attempts", "0")]), &app()).is_err());
    }

    #[test]
    fn am_memory_defaults_like_spark() {
        let mut a = app();
        a.driver = Resources {
            memory_mb: None,
            cores: None,
            instances: None,
        };
        assert_eq!(
            am_resource(&a).unwrap(),
            ResourceInfo {
                memory: 1024 + 384,
                v_cores: 1
            }
        );
        a.driver.memory_mb = Some(8192);
        assert_eq!(am_resource(&a).unwrap().memory, 8192 + 819);
        a.conf
            .push(("spark.driver.memoryOverhead".into(), "1g".into()));
        assert_eq!(am_resource(&a).unwrap().memory, 8192 + 1024);
    }

    #[test]
    fn memory_strings() {
        assert_eq!(memory_mb("2g"), Some(2048));
        assert_eq!(memory_mb("512m"), Some(512));
        assert_eq!(memory_mb("1024"), Some(1024));
        assert_eq!(memory_mb("2048k"), Some(2));
        assert_eq!(memory_mb("x"), None);
    }

    #[test]
    fn java_options_split_like_spark() {
        assert_eq!(
            split_command_string(r#"-Xss4m  -Da='b c' -De="f \"g\"" "#),
            ["-Xss4m", "-Da=b c", r#"-De=f "g""#]
        );
        assert_eq!(split_command_string("  "), Vec::<String>::new());
    }

    #[test]
    fn tags_are_lowercase() {
        assert_eq!(tag("drover-ABC"), "drover-key:drover-abc");
        assert_eq!(
            spark_yarn_tags("drover-ABC"),
            "drover-key:drover-abc,drover"
        );
    }
}
