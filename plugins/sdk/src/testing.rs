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
