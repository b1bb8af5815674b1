//! DAG applications into the plugin contract's types.

use crate::bindings::{Application, DeployMode, Resources};

fn mode(m: drover_dag::DeployMode) -> DeployMode {
    match m {
        drover_dag::DeployMode::Client => DeployMode::Client,
        drover_dag::DeployMode::Cluster => DeployMode::Cluster,
        drover_dag::DeployMode::Service => DeployMode::Service,
    }
}

fn resources(r: &drover_dag::Resources) -> Resources {
    Resources {
        memory_mb: r.memory_mb,
        cores: r.cores,
        instances: r.instances,
    }
}

fn pairs(m: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A template (unrendered, for validation) as plugins receive it.
pub fn template(a: &drover_dag::ApplicationTemplate) -> Application {
    application(a)
}

/// A rendered application, as plugins receive it.
pub fn application(a: &drover_dag::Application) -> WitApplication {
    Application {
        name: a.name.clone(),
        resource: a.resource.clone(),
        main_class: a.main_class.clone(),
        args: a.args.clone(),
        conf: pairs(&a.conf),
        deploy_mode: mode(a.deploy_mode),
        driver: resources(&a.driver),
        executor: resources(&a.executor),
        jars: a.jars.clone(),
        files: a.files.clone(),
        py_files: a.py_files.clone(),
        env: pairs(&a.env),
    }
}

/// The contract's application type, as callers outside this crate name it.
pub type WitApplication = Application;
