//! The `sparkSubmitParameters` both EMR APIs take, read into what a driver
//! process runs: entry point, arguments, main class, Spark properties and
//! driver environment.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{AwsError, string_map};

/// What a job run runs, parsed from its job driver and configurationOverrides.
#[derive(Debug, Default)]
pub struct RunSpec {
    pub entry_point: String,
    pub args: Vec<String>,
    pub main_class: Option<String>,
    pub conf: BTreeMap<String, String>,
    pub env: Vec<(String, String)>,
}


/// What a job driver's `sparkSubmitParameters`, entry point and arguments,
/// with the `spark-defaults` classification of `overrides`, ask to run.
/// `sparkSubmitParameters` is split on whitespace, as both EMR services do;
/// `--conf` wins over spark-defaults, as in spark-submit. Driver environment
/// variables are the properties under `env_prefix`; `driver_path` names the
/// driver object in messages, `owns_deploy_mode` says why no deploy mode or
/// master may be set.
pub fn spark_submit_spec(
    submit: &Value,
    driver_path: &str,
    overrides: Option<&Value>,
    env_prefix: &str,
    owns_deploy_mode: &str,
) -> Result<RunSpec, AwsError> {
    let entry_point = submit
        .get("entryPoint")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AwsError::validation(format!("{driver_path}.entryPoint is required.")))?
        .to_owned();
    let args = match submit.get("entryPointArguments") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                AwsError::validation("entryPointArguments must be a list of strings.")
            })?,
        Some(_) => {
            return Err(AwsError::validation(
                "entryPointArguments must be a list of strings.",
            ));
        }
    };
    let mut spec = RunSpec {
        entry_point,
        args,
        ..RunSpec::default()
    };
    // spark-defaults first: --conf on the command line wins, as in spark-submit.
    let configurations = overrides
        .and_then(|o| o.get("applicationConfiguration"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in configurations {
        if c.get("classification").and_then(Value::as_str) == Some("spark-defaults") {
            spec.conf
                .extend(string_map(c.get("properties"), "properties")?);
        }
    }
    let parameters = submit
        .get("sparkSubmitParameters")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut words = parameters.split_whitespace();
    while let Some(flag) = words.next() {
        let mut value = || {
            words.next().ok_or_else(|| {
                AwsError::validation(format!("sparkSubmitParameters: {flag} needs a value."))
            })
        };
        match flag {
            "--class" => spec.main_class = Some(value()?.to_owned()),
            "--conf" => {
                let kv = value()?;
                let (k, v) = kv.split_once('=').ok_or_else(|| {
                    AwsError::validation(format!(
                        "sparkSubmitParameters: --conf {kv} is not key=value."
                    ))
                })?;
                spec.conf.insert(k.to_owned(), v.to_owned());
            }
            "--jars" => append_list(&mut spec.conf, "spark.jars", value()?),
            "--files" => append_list(&mut spec.conf, "spark.files", value()?),
            "--py-files" => append_list(&mut spec.conf, "spark.submit.pyFiles", value()?),
            "--archives" => append_list(&mut spec.conf, "spark.archives", value()?),
            "--deploy-mode" | "--master" => {
                return Err(AwsError::validation(format!(
                    "sparkSubmitParameters: {flag} is not supported: {owns_deploy_mode}."
                )));
            }
            other => {
                return Err(AwsError::validation(format!(
                    "sparkSubmitParameters: unsupported parameter {other}."
                )));
            }
        }
    }
    for key in ["spark.submit.deployMode", "spark.master"] {
        if spec.conf.contains_key(key) {
            return Err(AwsError::validation(format!(
                "{key} cannot be set: {owns_deploy_mode}."
            )));
        }
    }
    spec.env = spec
        .conf
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(env_prefix)
                .map(|name| (name.to_owned(), v.clone()))
        })
        .collect();
    Ok(spec)
}

fn append_list(conf: &mut BTreeMap<String, String>, key: &str, value: &str) {
    let merged = match conf.get(key).filter(|v| !v.is_empty()) {
        Some(existing) => format!("{existing},{value}"),
        None => value.to_owned(),
    };
    conf.insert(key.to_owned(), merged);
}
