//! The contract's calls as a plugin writes them: [`Backend`], whose methods
//! get the backend's settings already parsed and the call's other arguments
//! borrowed.
//!
//! The WIT glue is written once, here: every type implementing [`Backend`]
//! implements the generated [`Guest`] trait, so [`export!`](crate::export)
//! takes it as it is. A plugin never sees the settings as the list of pairs
//! the contract carries, and cannot forget to read them the one way the
//! SDK's helpers expect ([`Settings`]: blank counts as unset, last one wins).

use crate::bindings::Guest;
use crate::{
    Application, DriverStatus, Info, LogChunk, PluginError, Problem, Settings, Submitted,
};

/// One cluster manager's side of the contract
/// (`plugins/wit/drover-plugin@0.2.0/plugin.wit`, interface `backend`, whose
/// comments say what each call must do). Each call gets a fresh instance, so
/// the methods take no `self`.
pub trait Backend {
    /// Name, version, deploy modes and settings keys; asked once, at load.
    fn describe() -> Info;

    /// Every problem the cluster would refuse `app` for. No network.
    fn validate(settings: &Settings, app: &Application) -> Vec<Problem>;

    /// Submits `app`, putting the submission `key` where `find` can see it.
    fn submit(settings: &Settings, key: &str, app: &Application)
    -> Result<Submitted, PluginError>;

    /// The id of the submission carrying `key`, if the cluster has one.
    fn find(settings: &Settings, key: &str) -> Result<Option<String>, PluginError>;

    fn status(settings: &Settings, id: &str) -> Result<DriverStatus, PluginError>;

    /// One entry per id, in order; `None` for an id the cluster does not know.
    fn status_many(
        settings: &Settings,
        ids: &[String],
    ) -> Result<Vec<Option<DriverStatus>>, PluginError>;

    fn kill(settings: &Settings, id: &str) -> Result<(), PluginError>;

    /// Bytes of `stream` ("stdout" or "stderr") from `offset`, at most `max_bytes`.
    fn logs(
        settings: &Settings,
        id: &str,
        stream: &str,
        offset: u64,
        max_bytes: u32,
    ) -> Result<LogChunk, PluginError>;
}

impl<T: Backend> Guest for T {
    fn describe() -> Info {
        T::describe()
    }

    fn validate(settings: Vec<(String, String)>, app: Application) -> Vec<Problem> {
        T::validate(&Settings::new(settings), &app)
    }

    fn submit(
        settings: Vec<(String, String)>,
        key: String,
        app: Application,
    ) -> Result<Submitted, PluginError> {
        T::submit(&Settings::new(settings), &key, &app)
    }

    fn find(settings: Vec<(String, String)>, key: String) -> Result<Option<String>, PluginError> {
        T::find(&Settings::new(settings), &key)
    }

    fn status(settings: Vec<(String, String)>, id: String) -> Result<DriverStatus, PluginError> {
        T::status(&Settings::new(settings), &id)
    }

    fn status_many(
        settings: Vec<(String, String)>,
        ids: Vec<String>,
    ) -> Result<Vec<Option<DriverStatus>>, PluginError> {
        T::status_many(&Settings::new(settings), &ids)
    }

    fn kill(settings: Vec<(String, String)>, id: String) -> Result<(), PluginError> {
        T::kill(&Settings::new(settings), &id)
    }

    fn logs(
        settings: Vec<(String, String)>,
        id: String,
        stream: String,
        offset: u64,
        max_bytes: u32,
    ) -> Result<LogChunk, PluginError> {
        T::logs(&Settings::new(settings), &id, &stream, offset, max_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::bare_app;
    use crate::DeployMode;

    /// Answers with what it was given, to show what the glue passes on.
    struct Echo;

    impl Backend for Echo {
        fn describe() -> Info {
            Info {
                name: "echo".into(),
                version: "0".into(),
                deploy_modes: vec![],
                config_keys: vec![],
            }
        }
        fn validate(settings: &Settings, app: &Application) -> Vec<Problem> {
            vec![Problem::new("url", settings.get_or("url", "-"), &app.resource)]
        }
        fn submit(settings: &Settings, key: &str, _: &Application) -> Result<Submitted, PluginError> {
            Ok(Submitted::Cluster(format!("{}/{key}", settings.require("url")?)))
        }
        fn find(_: &Settings, key: &str) -> Result<Option<String>, PluginError> {
            Ok(Some(key.to_string()))
        }
        fn status(_: &Settings, id: &str) -> Result<DriverStatus, PluginError> {
            Err(PluginError::NotFound(id.to_string()))
        }
        fn status_many(_: &Settings, ids: &[String]) -> Result<Vec<Option<DriverStatus>>, PluginError> {
            Ok(ids.iter().map(|_| None).collect())
        }
        fn kill(_: &Settings, _: &str) -> Result<(), PluginError> {
            Ok(())
        }
        fn logs(_: &Settings, id: &str, stream: &str, offset: u64, max: u32) -> Result<LogChunk, PluginError> {
            Ok(LogChunk {
                data: format!("{id} {stream}").into_bytes(),
                next_offset: offset + u64::from(max),
                total: None,
            })
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_contracts_calls_reach_the_backend_with_settings_read_the_sdks_way() {
        // Blank is unset and the last value wins, whichever call it is.
        let settings = pairs(&[("url", "http://a"), ("url", " http://b "), ("blank", " ")]);
        let p = <Echo as Guest>::validate(settings.clone(), bare_app("/j.py", DeployMode::Client));
        assert_eq!((p[0].message.as_str(), p[0].hint.as_str()), ("http://b", "/j.py"));
        assert_eq!(
            <Echo as Guest>::submit(settings, "k1".into(), bare_app("/j.py", DeployMode::Cluster)),
            Ok(Submitted::Cluster("http://b/k1".into()))
        );
        assert!(matches!(
            <Echo as Guest>::submit(pairs(&[("url", " ")]), "k".into(), bare_app("/j", DeployMode::Cluster)),
            Err(PluginError::Invalid(m)) if m.contains("`url`")
        ));
        assert_eq!(<Echo as Guest>::find(vec![], "k2".into()), Ok(Some("k2".into())));
        assert_eq!(
            <Echo as Guest>::status(vec![], "d1".into()),
            Err(PluginError::NotFound("d1".into()))
        );
        assert_eq!(<Echo as Guest>::status_many(vec![], vec!["a".into(), "b".into()]), Ok(vec![None, None]));
        let chunk = <Echo as Guest>::logs(vec![], "d1".into(), "stderr".into(), 5, 10).unwrap();
        assert_eq!((chunk.data, chunk.next_offset), (b"d1 stderr".to_vec(), 15));
        assert_eq!(<Echo as Guest>::kill(vec![], "d1".into()), Ok(()));
        assert_eq!(<Echo as Guest>::describe().name, "echo");
    }
}
