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
