//! What the plugin-host tests share (`mod common;` in tests/*.rs).

use drover_dag::{Application, DeployMode, Resources};

/// A bare cluster-mode application named `name` running /bin/true; the
/// misbehaving plugin reads what to do from `main_class`.
pub fn app(name: &str, main_class: Option<&str>) -> Application {
    let none = Resources { memory_mb: None, cores: None, instances: None };
    Application {
        name: name.into(),
        resource: "/bin/true".into(),
        main_class: main_class.map(Into::into),
        args: vec![],
        conf: Default::default(),
        deploy_mode: DeployMode::Cluster,
        driver: none.clone(),
        executor: none,
        jars: vec![],
        files: vec![],
        py_files: vec![],
        env: Default::default(),
        proxy_user: None,
    }
}
