//! Real third-party clients and servers from PyPI (moto, kubernetes,
//! yarn-api-client), installed by `.ci/run` into the same venv as pyspark.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

/// The venv's python with `module` importable; fails (never skips) with the
/// install hint when it is missing.
pub fn python_with(module: &str) -> Result<PathBuf> {
    let venv = match std::env::var_os(super::spark::SPARK_VENV_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => super::spark::default_venv(),
    };
    let python = venv.join("bin").join("python");
    let hint = "run `bash .ci/run` once: it installs moto[server], boto3, kubernetes, \
                yarn-api-client, apache-airflow-client and schemathesis into ${DROVER_CI_CACHE:-$HOME/.cache/drover-ci}/venv";
    if !python.exists() {
        bail!("no venv python at {}: {hint}", python.display());
    }
    let ok = std::process::Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .status()
        .with_context(|| format!("running {}", python.display()))?
        .success();
    if !ok {
        bail!("python module `{module}` is not installed in {}: {hint}", venv.display());
    }
    Ok(python)
}

/// Env var naming Airflow's own OpenAPI document, which `.ci/run` takes from
/// the pinned apache-airflow-core wheel (downloaded, never installed).
pub const AIRFLOW_OPENAPI_ENV: &str = "DROVER_AIRFLOW_OPENAPI";
/// The Airflow release whose document drover's Airflow-shaped API follows
/// (the same as the apache-airflow-client `.ci/run` pins).
pub const AIRFLOW_VERSION: &str = "3.3.2";

/// Airflow's v2 REST API document; fails (never skips) with the hint when
/// it is missing.
pub fn airflow_openapi() -> Result<PathBuf> {
    let path = match std::env::var_os(AIRFLOW_OPENAPI_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => super::spark::default_venv()
            .with_file_name(format!("airflow-core-{AIRFLOW_VERSION}"))
            .join("airflow/api_fastapi/core_api/openapi/v2-rest-api-generated.yaml"),
    };
    if !path.is_file() {
        bail!(
            "no Airflow OpenAPI document at {} (set {AIRFLOW_OPENAPI_ENV}): run `bash .ci/run` once: \
             it downloads apache-airflow-core=={AIRFLOW_VERSION} and extracts the document",
            path.display()
        );
    }
    Ok(path)
}
