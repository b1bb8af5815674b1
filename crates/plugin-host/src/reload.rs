//! Plugins as files that change: a backend whose plugin is a `.wasm` file
//! picks up a new version of that file without a restart.
//!
//! The new component is compiled, its contract version checked and its
//! `describe` called, and it must still accept the backend's settings; only
//! then does it take the next calls. Calls already under way finish on the
//! version they started with, and drivers that are running keep being
//! tracked (through the new version, which reads the same cluster ids). A
//! file that fails any of these steps is refused: the version in use stays,
//! and the refusal is kept on the backend ([`Backend::reload_error`]) for the
//! API and the UI, and logged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use notify::{RecursiveMode, Watcher};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::call::Backend;
use crate::config::BackendSet;
use crate::engine::{Plugin, PluginHost};

/// Why the last change of a backend's plugin file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadError {
    /// The file that was refused.
    pub file: PathBuf,
    pub message: String,
    /// When it was refused.
    pub at: SystemTime,
}

/// What one look at a backend's plugin file did.
#[derive(Debug, Clone)]
pub enum Reload {
    /// The file holds the component in use (or the backend has no file).
    Unchanged,
    /// The new component took over from `from`.
    Reloaded { from: Arc<Plugin>, to: Arc<Plugin> },
    /// The new file was refused; the component in use stays.
    Refused(ReloadError),
}

impl Backend {
    /// The `.wasm` file the backend's plugin comes from, when it is one (not
    /// a bundled plugin).
    pub fn plugin_file(&self) -> Option<&Path> {
        self.source.as_deref().map(PathBuf::as_path)
    }

    /// Why the plugin file's last change was refused, until a later change
    /// is taken.
    pub fn reload_error(&self) -> Option<ReloadError> {
        self.reload_error.lock().expect("reload lock").clone()
    }

    /// Reads the plugin file again and, if it changed, loads and checks the
    /// new component and puts it in use; a refused file leaves the one in use
    /// and is remembered as [`Backend::reload_error`].
    pub async fn reload(&self, host: &PluginHost) -> Reload {
        let Some(file) = self.plugin_file().map(Path::to_path_buf) else {
            return Reload::Unchanged;
        };
        let outcome = match tokio::fs::read(&file).await {
            Err(e) => Err(format!("cannot read {}: {e}", file.display())),
            Ok(bytes) if hex::encode(Sha256::digest(&bytes)) == self.plugin().digest() => {
                // Back to the version in use (e.g. after a broken copy was
                // replaced by the good one again): nothing is refused now.
                *self.reload_error.lock().expect("reload lock") = None;
                return Reload::Unchanged;
            }
            Ok(bytes) => match host.load(&file.display().to_string(), &bytes).await {
                Err(e) => Err(e.to_string()),
                Ok(new) => self.accepts(&new).map(|()| new),
            },
        };
        match outcome {
            Ok(new) => {
                let from = std::mem::replace(&mut *self.plugin.write().expect("plugin lock"), new.clone());
                *self.reload_error.lock().expect("reload lock") = None;
                Reload::Reloaded { from, to: new }
            }
            Err(message) => {
                let err = ReloadError { file, message, at: SystemTime::now() };
                *self.reload_error.lock().expect("reload lock") = Some(err.clone());
                Reload::Refused(err)
            }
        }
    }

    /// The new component must know every setting the backend was configured
    /// with and find every one it requires.
    fn accepts(&self, new: &Plugin) -> Result<(), String> {
        let keys = &new.info().config_keys;
        let mut problems = Vec::new();
        for (k, _) in self.settings.iter() {
            if !keys.iter().any(|c| &c.name == k) {
                problems.push(format!("it does not know the setting `{k}` the backend is configured with"));
            }
        }
        for c in keys.iter().filter(|c| c.required) {
            if !self.settings.iter().any(|(k, _)| k == &c.name) {
                problems.push(format!("it requires the setting `{}`, which the backend does not give", c.name));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} {}: {}",
                new.info().name,
                new.info().version,
                problems.join("; ")
            ))
        }
    }
}

/// Keeps watching the plugin files while it lives.
pub struct PluginWatcher {
    _watcher: notify::RecommendedWatcher,
    _task: tokio::task::JoinHandle<()>,
}

impl Drop for PluginWatcher {
    fn drop(&mut self) {
        self._task.abort();
    }
}

/// Editors and copies write a file in several steps: wait for a quiet moment.
const QUIET: Duration = Duration::from_millis(150);

/// Watches the files of every backend whose plugin is a `.wasm` file and
/// reloads a backend when its file changes (see the module docs). After a
/// backend took a new component, `changed` is called (drover re-checks its
/// DAGs against it). `None` when no backend has a plugin file.
pub fn watch(
    backends: &BackendSet,
    host: PluginHost,
    changed: impl Fn() + Send + Sync + 'static,
) -> notify::Result<Option<PluginWatcher>> {
    let mut by_file: BTreeMap<PathBuf, Vec<Backend>> = BTreeMap::new();
    for (_, b) in backends.iter() {
        if let Some(file) = b.plugin_file() {
            let file = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
            by_file.entry(file).or_default().push(b.clone());
        }
    }
    if by_file.is_empty() {
        return Ok(None);
    }
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<PathBuf>();
    let files: Vec<PathBuf> = by_file.keys().cloned().collect();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(ev) = res else { return };
        if matches!(ev.kind, notify::EventKind::Access(_)) {
            return;
        }
        for p in ev.paths {
            if files.contains(&p) {
                let _ = raw_tx.send(p);
            }
        }
    })?;
    // The folders, not the files: a file replaced by a rename is a new file.
    let mut dirs: Vec<&Path> = by_file.keys().filter_map(|f| f.parent()).collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    let task = tokio::spawn(async move {
        while let Some(first) = raw_rx.recv().await {
            let mut touched = vec![first];
            loop {
                match tokio::time::timeout(QUIET, raw_rx.recv()).await {
                    Ok(Some(p)) => touched.push(p),
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            touched.sort();
            touched.dedup();
            let mut any = false;
            for file in &touched {
                for b in by_file.get(file).into_iter().flatten() {
                    match b.reload(&host).await {
                        Reload::Unchanged => {}
                        Reload::Reloaded { from, to } => {
                            any = true;
                            info!(
                                backend = b.name(),
                                file = %file.display(),
                                from = %format!("{} {}", from.info().name, from.info().version),
                                to = %format!("{} {}", to.info().name, to.info().version),
                                digest = to.digest(),
                                "plugin reloaded: new calls use the new component"
                            );
                        }
                        Reload::Refused(e) => warn!(
                            backend = b.name(),
                            file = %file.display(),
                            error = %e.message,
                            "plugin file refused; the backend keeps the component it had"
                        ),
                    }
                }
            }
            if any {
                changed();
            }
        }
    });
    Ok(Some(PluginWatcher { _watcher: watcher, _task: task }))
}
