//! Every translation between drover's types ([`crate::types`]) and the
//! contract's generated WIT types, in both directions, one module per
//! contract version. Nothing else in the crate builds or takes apart a WIT
//! value. The versions differ only in `application`; everything else is
//! written once, in [`conversions!`], and expanded for each.

use std::collections::BTreeMap;

use crate::types::Application;

/// The translations every contract version shares, over the `wit` module
/// in scope where it is expanded.
///
/// `application` fills the fields every version has, and the ones named in
/// the invocation (those a version added, which drover's [`Application`]
/// has under the same name).
macro_rules! conversions {
    ($($added:ident),* $(,)?) => {
        /// An application (rendered, or a template for validation) as plugins receive it.
        pub(crate) fn application(a: &Application) -> wit::Application {
            wit::Application {
                name: a.name.clone(),
                resource: a.resource.clone(),
                main_class: a.main_class.clone(),
                args: a.args.clone(),
                conf: pairs(&a.conf),
                deploy_mode: mode_into(a.deploy_mode),
                driver: resources(&a.driver),
                executor: resources(&a.executor),
                jars: a.jars.clone(),
                files: a.files.clone(),
                py_files: a.py_files.clone(),
                env: pairs(&a.env),
                $($added: a.$added.clone(),)*
            }
        }

        use crate::error::ErrorKind;
        use crate::types::{
            ConfigKey, DeployMode, DriverPhase, DriverStatus, LocalLaunch, LogChunk, PluginInfo,
            Problem, Submitted,
        };

        pub(crate) fn mode_from(m: wit::DeployMode) -> DeployMode {
            match m {
                wit::DeployMode::Client => DeployMode::Client,
                wit::DeployMode::Cluster => DeployMode::Cluster,
                wit::DeployMode::Service => DeployMode::Service,
            }
        }

        fn mode_into(m: DeployMode) -> wit::DeployMode {
            match m {
                DeployMode::Client => wit::DeployMode::Client,
                DeployMode::Cluster => wit::DeployMode::Cluster,
                DeployMode::Service => wit::DeployMode::Service,
            }
        }

        fn resources(r: &drover_dag::Resources) -> wit::Resources {
            wit::Resources {
                memory_mb: r.memory_mb,
                cores: r.cores,
                instances: r.instances,
            }
        }

        pub(crate) fn info(i: wit::Info) -> PluginInfo {
            PluginInfo {
                name: i.name,
                version: i.version,
                deploy_modes: i.deploy_modes.into_iter().map(mode_from).collect(),
                config_keys: i
                    .config_keys
                    .into_iter()
                    .map(|k| ConfigKey {
                        name: k.name,
                        description: k.description,
                        required: k.required,
                        secret: k.secret,
                    })
                    .collect(),
            }
        }

        pub(crate) fn problem(p: wit::Problem) -> Problem {
            Problem {
                field: p.field,
                message: p.message,
                hint: p.hint,
            }
        }

        pub(crate) fn submitted(s: wit::Submitted) -> Submitted {
            match s {
                wit::Submitted::Cluster(id) => Submitted::Cluster(id),
                wit::Submitted::Local(l) => Submitted::Local(LocalLaunch {
                    program: l.program,
                    args: l.args,
                    env: l.env,
                }),
            }
        }

        fn phase(p: wit::DriverPhase) -> DriverPhase {
            match p {
                wit::DriverPhase::Submitted => DriverPhase::Submitted,
                wit::DriverPhase::Queued => DriverPhase::Queued,
                wit::DriverPhase::Running => DriverPhase::Running,
                wit::DriverPhase::Succeeded => DriverPhase::Succeeded,
                wit::DriverPhase::Failed => DriverPhase::Failed,
                wit::DriverPhase::Killed => DriverPhase::Killed,
                wit::DriverPhase::Lost => DriverPhase::Lost,
                wit::DriverPhase::Unknown => DriverPhase::Unknown,
            }
        }

        pub(crate) fn status(s: wit::DriverStatus) -> DriverStatus {
            DriverStatus {
                phase: phase(s.phase),
                raw_state: s.raw_state,
                attempt: s.attempt,
                location: s.location,
                message: s.message,
                tracking_url: s.tracking_url,
            }
        }

        pub(crate) fn log_chunk(c: wit::LogChunk) -> LogChunk {
            LogChunk {
                data: c.data,
                next_offset: c.next_offset,
                total: c.total,
            }
        }

        /// A plugin's own error: its kind (which decides retrying) and its message.
        pub(crate) fn plugin_error(e: wit::PluginError) -> (ErrorKind, String) {
            match e {
                wit::PluginError::Invalid(m) => (ErrorKind::Invalid, m),
                wit::PluginError::Unavailable(m) => (ErrorKind::Unavailable, m),
                wit::PluginError::Rejected(m) => (ErrorKind::Rejected, m),
                wit::PluginError::Protocol(m) => (ErrorKind::Protocol, m),
                wit::PluginError::InDoubt(m) => (ErrorKind::InDoubt, m),
                wit::PluginError::NotFound(m) => (ErrorKind::NotFound, m),
                wit::PluginError::Unsupported(m) => (ErrorKind::Unsupported, m),
            }
        }
    };
}

fn pairs(m: &BTreeMap<String, String>) -> Vec<(String, String)> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Contract 0.1.0. Its `application` has no proxy user: the host refuses
/// such an application before it reaches a 0.1.0 plugin
/// ([`crate::Plugin::cannot_carry`]).
pub(crate) mod v0_1_0 {
    use super::{Application, pairs};
    use crate::bindings::v0_1_0 as wit;

    conversions!();
}

/// Contract 0.2.0.
pub(crate) mod v0_2_0 {
    use super::{Application, pairs};
    use crate::bindings::v0_2_0 as wit;

    conversions!(proxy_user);
}
