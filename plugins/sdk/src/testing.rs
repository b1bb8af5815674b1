//! Fixtures for plugins' unit tests (cargo feature `testing`, which a plugin
//! turns on for its dev-dependency only, so components never carry them):
//! the applications and settings every plugin's tests start from, kept in
//! one place so that a field added to the contract's `application` is added
//! once.

use crate::{Application, DeployMode, Resources, Settings};

/// A Scala application with every field set: resources, conf, jars, env.
pub fn app() -> Application {
    Application {
        name: "nightly etl".into(),
        resource: "/jobs/etl.jar".into(),
        main_class: Some("com.example.Etl".into()),
        args: vec!["--day".into(), "2026-01-01".into()],
        conf: vec![
            ("spark.sql.shuffle.partitions".into(), "8".into()),
            ("spark.driver.memory".into(), "4g".into()),
        ],
        deploy_mode: DeployMode::Client,
        driver: Resources {
            memory_mb: Some(1024),
            cores: Some(1),
            instances: None,
        },
        executor: Resources {
            memory_mb: Some(2048),
            cores: Some(2),
            instances: Some(3),
        },
        jars: vec!["/libs/a.jar".into(), "hdfs://nn/b.jar".into()],
        files: vec![],
        py_files: vec![],
        env: vec![("TZ".into(), "UTC".into())],
        proxy_user: None,
    }
}

/// A Scala application as the EMR services take it, its files on S3, with
/// a Spark property whose value has spaces (which `sparkSubmitParameters`
/// cannot carry).
pub fn s3_app(mode: DeployMode) -> Application {
    Application {
        name: "nightly etl".into(),
        resource: "s3://bucket/jobs/etl.jar".into(),
        main_class: Some("com.example.Etl".into()),
        args: vec!["--day".into(), "2026-01-01".into()],
        conf: vec![
            ("spark.sql.shuffle.partitions".into(), "8".into()),
            ("spark.driver.extraJavaOptions".into(), "-Xss4m -Dx=y".into()),
        ],
        deploy_mode: mode,
        driver: Resources {
            memory_mb: Some(2048),
            cores: Some(1),
            instances: None,
        },
        executor: Resources {
            memory_mb: None,
            cores: Some(2),
            instances: Some(3),
        },
        jars: vec!["s3://bucket/a.jar".into()],
        files: vec![],
        py_files: vec![],
        env: vec![("TZ".into(), "UTC".into())],
        proxy_user: None,
    }
}

/// The least an application can be: `resource` in `mode`, named "a", with
/// nothing else set. Tests of `validate` change the one field they are about.
pub fn bare_app(resource: &str, mode: DeployMode) -> Application {
    let none = Resources {
        memory_mb: None,
        cores: None,
        instances: None,
    };
    Application {
        name: "a".into(),
        resource: resource.into(),
        main_class: None,
        args: vec![],
        conf: vec![],
        deploy_mode: mode,
        driver: none,
        executor: none,
        jars: vec![],
        files: vec![],
        py_files: vec![],
        env: vec![],
        proxy_user: None,
    }
}

/// Settings from literal pairs, in order.
pub fn settings(pairs: &[(&str, &str)]) -> Settings {
    Settings::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// An application setting every spark-submit flag drover has a field for,
/// its files under `base` (e.g. "hdfs://nn" or "s3://bucket"): the
/// properties the DAG loader folds the flag fields into (`packages` is
/// `spark.jars.packages`, ...), plus every field of the contract. Each
/// backend's golden test renders it to the cluster's wire request.
pub fn flags_app(base: &str, mode: DeployMode) -> Application {
    let conf = [
        ("spark.archives", format!("{base}/envs/py.tar.gz#env")),
        ("spark.jars.packages", "org.apache.spark:spark-avro_2.13:4.0.1".into()),
        ("spark.jars.repositories", "https://repo.example.com/maven".into()),
        ("spark.jars.excludes", "org.slf4j:slf4j-api".into()),
        ("spark.cores.max", "8".into()),
        ("spark.kerberos.principal", "etl@EXAMPLE.COM".into()),
        ("spark.kerberos.keytab", "/etc/security/etl.keytab".into()),
        ("spark.driver.extraJavaOptions", "-Dlog4j.configurationFile=log4j2.xml".into()),
        ("spark.driver.extraClassPath", "/opt/extra/lib.jar".into()),
        ("spark.yarn.queue", "etl".into()),
        ("spark.dynamicAllocation.enabled", "true".into()),
        ("spark.dynamicAllocation.minExecutors", "1".into()),
        ("spark.dynamicAllocation.initialExecutors", "2".into()),
        ("spark.dynamicAllocation.maxExecutors", "10".into()),
        ("spark.sql.shuffle.partitions", "8".into()),
    ];
    Application {
        name: "flags".into(),
        resource: format!("{base}/jobs/etl.jar"),
        main_class: Some("com.example.Etl".into()),
        args: vec!["--day".into(), "2026-01-01".into()],
        conf: conf.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        deploy_mode: mode,
        driver: Resources {
            memory_mb: Some(1024),
            cores: Some(1),
            instances: None,
        },
        executor: Resources {
            memory_mb: Some(2048),
            cores: Some(2),
            instances: Some(3),
        },
        jars: vec![format!("{base}/libs/a.jar")],
        files: vec![format!("{base}/conf/app.conf")],
        py_files: vec![format!("{base}/py/deps.zip")],
        env: vec![("TZ".into(), "UTC".into())],
        proxy_user: Some("analyst".into()),
    }
}

/// `app` without the properties a backend refused (the `conf.<key>` fields
/// of `problems`) and without a refused `proxy_user`: what that backend
/// renders for the golden test.
pub fn without_refused(mut app: Application, problems: &[crate::Problem]) -> Application {
    app.conf
        .retain(|(k, _)| !problems.iter().any(|p| p.field == format!("conf.{k}")));
    if problems.iter().any(|p| p.field == "proxy_user") {
        app.proxy_user = None;
    }
    app
}

/// docs/submit-flags.md, read from a plugin crate's tests.
pub fn flags_doc(manifest_dir: &str) -> String {
    let path = std::path::Path::new(manifest_dir).join("../../docs/submit-flags.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compares `actual` with the golden file at `path`, or (re)writes the file
/// when the environment has `BLESS=1`.
pub fn golden(path: &std::path::Path, actual: &str) {
    if std::env::var_os("BLESS").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("{}: {e}; run with BLESS=1 to create it\n--- actual ---\n{actual}", path.display())
    });
    assert!(
        expected == actual,
        "{} differs; run with BLESS=1 to accept\n--- expected ---\n{expected}\n--- actual ---\n{actual}",
        path.display()
    );
}

/// One row of the spark-submit flags table (docs/submit-flags.md) as one
/// backend's column has it.
#[derive(Debug)]
pub struct FlagRow {
    /// The DAG field, e.g. "packages".
    pub field: String,
    /// The Spark property the field is folded into, if any.
    pub property: Option<String>,
    /// The backend's cell.
    pub cell: String,
}

impl FlagRow {
    /// Refused by the backend in `mode`: the cell starts "refused", or
    /// "refused in cluster mode" and `mode` is cluster.
    pub fn refused(&self, mode: DeployMode) -> bool {
        let cell = self.cell.to_ascii_lowercase();
        if cell.starts_with("refused in cluster mode") {
            mode == DeployMode::Cluster
        } else {
            cell.starts_with("refused")
        }
    }

    /// Documented as not sent to this cluster (e.g. py-files by a backend
    /// that runs no Python): nothing to find in the request.
    pub fn not_sent(&self) -> bool {
        self.cell.to_ascii_lowercase().starts_with("not sent")
    }

    /// Whether `problem` is about this row: on `conf.<property>` for a flag
    /// folded into a Spark property, else on the DAG field itself
    /// (`proxy_user`, a field of the contract's application).
    pub fn is_field_of(&self, problem: &crate::Problem) -> bool {
        match &self.property {
            Some(p) => problem.field == format!("conf.{p}"),
            None => problem.field == self.field,
        }
    }

    /// The literal strings (in backticks) the cell says the rendered request
    /// contains.
    pub fn tokens(&self) -> Vec<&str> {
        self.cell.split('`').skip(1).step_by(2).collect()
    }
}

/// The rows of the flags table in the markdown `doc`, with the cells of the
/// column whose header is `column`. Panics if there is no such table or
/// column, so a renamed column fails the test rather than checking nothing.
pub fn flags_table(doc: &str, column: &str) -> Vec<FlagRow> {
    let cells = |line: &str| -> Vec<String> {
        let line = line.trim().trim_start_matches('|').trim_end_matches('|');
        line.split('|').map(|c| c.trim().to_string()).collect()
    };
    let mut lines = doc
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("| DAG field"));
    let header = cells(lines.next().expect("the flags table's header row"));
    let col = header
        .iter()
        .position(|h| h == column)
        .unwrap_or_else(|| panic!("no column {column:?} in {header:?}"));
    let rows: Vec<FlagRow> = lines
        .skip(1)
        .take_while(|l| l.trim_start().starts_with('|'))
        .map(|l| {
            let c = cells(l);
            let unquote = |s: &str| s.trim().trim_matches('`').to_string();
            FlagRow {
                field: unquote(&c[0]),
                property: c[1].starts_with('`').then(|| unquote(&c[1])),
                cell: c.get(col).cloned().unwrap_or_default(),
            }
        })
        .collect();
    assert!(!rows.is_empty(), "the flags table has no rows");
    rows
}

/// Checks one backend's column against what the backend does with
/// [`flags_app`] in `mode`: the rows it refuses are exactly the properties
/// `validate` refused (`problems`), and every other row's backticked
/// strings are in the rendered request (`rendered`, the golden's text),
/// when given.
pub fn check_flags_column(
    doc: &str,
    column: &str,
    mode: DeployMode,
    problems: &[crate::Problem],
    rendered: Option<&str>,
) {
    let mut wrong = Vec::new();
    for row in flags_table(doc, column) {
        let refused_by_plugin = problems.iter().any(|x| row.is_field_of(x));
        if row.refused(mode) != refused_by_plugin {
            wrong.push(format!(
                "{}: the table says {:?}, the plugin {} it in {mode:?} mode",
                row.field,
                row.cell,
                if refused_by_plugin { "refuses" } else { "accepts" }
            ));
            continue;
        }
        let Some(rendered) = rendered.filter(|_| !row.refused(mode) && !row.not_sent()) else {
            continue;
        };
        let tokens = row.tokens();
        if tokens.is_empty() {
            wrong.push(format!("{}: the cell {:?} names nothing to find", row.field, row.cell));
        }
        for t in tokens {
            if !rendered.contains(t) {
                wrong.push(format!("{}: `{t}` is not in the rendered request", row.field));
            }
        }
    }
    for p in problems {
        let listed = flags_table(doc, column).iter().any(|r| r.is_field_of(p));
        if !listed {
            wrong.push(format!("the plugin refuses {} ({}), which the table does not list", p.field, p.message));
        }
    }
    assert!(wrong.is_empty(), "docs/submit-flags.md, column {column:?}:\n{}", wrong.join("\n"));
}
