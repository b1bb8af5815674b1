//! The engine, the compile cache and the limits every call runs under.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

use crate::bindings::{v0_1_0, v0_2_0};
use crate::call::{Pre, call_describe};
use crate::error::HostError;
use crate::types::{Application, PluginInfo, Problem};

/// The versions of the plugin contract (`plugins/wit/drover-plugin@VERSION`)
/// this host loads components for.
/// 0.2.0 is the current one; 0.1.0 plugins keep working, without the fields
/// 0.2.0 added ([`Plugin::cannot_carry`]).
pub const SUPPORTED_CONTRACTS: &[&str] = &["0.1.0", "0.2.0"];

/// The interface every plugin exports, `drover:plugin/backend@VERSION`; its
/// version is the contract version the component was built for.
const BACKEND_EXPORT: &str = "drover:plugin/backend";

/// What every plugin call may use.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall-clock budget of one call, HTTP requests included.
    pub call_timeout: Duration,
    /// Linear memory cap per instance.
    pub memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            call_timeout: Duration::from_secs(30),
            memory_bytes: 64 << 20,
        }
    }
}

/// How often the engine's epoch advances; a runaway guest is noticed within this.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Loads and compiles plugins. One per process; cheap to clone.
#[derive(Clone)]
pub struct PluginHost {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<crate::call::HostState>,
    pub(crate) limits: Limits,
    cache_dir: Option<PathBuf>,
    loaded: Mutex<HashMap<String, Arc<Plugin>>>,
}

/// A compiled plugin, ready to instantiate. Shared by every backend using it.
pub struct Plugin {
    pub(crate) label: String,
    pub(crate) pre: Pre,
    pub(crate) info: PluginInfo,
    digest: String,
    contract: String,
    size: usize,
    compile_time: Duration,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.info.name)
            .field("version", &self.info.version)
            .field("digest", &self.digest)
            .field("contract", &self.contract)
            .finish()
    }
}

impl Plugin {
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The version of the plugin contract the component was built for.
    pub fn contract_version(&self) -> &str {
        &self.contract
    }

    /// What the application asks for that this plugin's contract version
    /// has no field for, as problems of the application: a plugin must
    /// never run an application without a part of it it did not hear of
    /// (a 0.1.0 plugin would run a job as drover's user instead of its
    /// `proxy_user`).
    pub fn cannot_carry(&self, app: &Application) -> Vec<Problem> {
        match (&self.pre, &app.proxy_user) {
            (Pre::V0_1_0(_), Some(user)) => vec![Problem {
                field: "proxy_user".into(),
                message: format!(
                    "plugin `{}` was built for drover plugin contract 0.1.0, which has no proxy user: \
                     the application would run as the user drover submits as, not as \"{user}\"",
                    self.label
                ),
                hint: "rebuild the plugin against plugins/wit/drover-plugin@0.2.0 (its application \
                       has `proxy-user`), or remove proxy_user"
                    .into(),
            }],
            _ => Vec::new(),
        }
    }

    /// Where the plugin came from: a bundled name or a file path.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// sha256 of the component bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Size of the component, in bytes.
    pub fn size_bytes(&self) -> usize {
        self.size
    }

    /// How long compiling the component (or loading its cached artifact) took.
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }
}

impl PluginHost {
    /// `cache_dir` keeps compiled artifacts across restarts (drover owns it).
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Self, HostError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config).map_err(|e| HostError::Engine(e.to_string()))?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| HostError::Engine(e.to_string()))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| HostError::Engine(e.to_string()))?;

        // The epoch ticker: a plain thread, so a guest spinning on a tokio
        // worker cannot starve it. It stops when the last engine clone is gone.
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("drover-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| HostError::Engine(e.to_string()))?;

        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir).map_err(|e| {
                HostError::Engine(format!("cannot create plugin cache {}: {e}", dir.display()))
            })?;
        }
        Ok(PluginHost {
            shared: Arc::new(Shared {
                engine,
                linker,
                limits,
                cache_dir,
                loaded: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn limits(&self) -> Limits {
        self.shared.limits
    }

    /// Compiles (or takes from cache) a plugin and asks it to describe itself.
    /// The same bytes are compiled once per process.
    pub async fn load(&self, label: &str, wasm: &[u8]) -> Result<Arc<Plugin>, HostError> {
        let digest = hex::encode(Sha256::digest(wasm));
        self.load_keyed(label, digest, Cow::Owned(wasm.to_vec())).await
    }

    /// Loads a bundled plugin by its name.
    async fn load_bundled(&self, name: &str, wasm: &'static [u8]) -> Result<Arc<Plugin>, HostError> {
        match crate::bundled::digest(name) {
            // Not hashed, not copied: found in the cache, these bytes are never read.
            Some(digest) => self.load_keyed(name, digest.to_string(), Cow::Borrowed(wasm)).await,
            None => self.load(name, wasm).await,
        }
    }

    /// `wasm` is borrowed for a bundled component, whose bytes stay in the
    /// binary, untouched unless they must be compiled.
    async fn load_keyed(&self, label: &str, digest: String, wasm: Cow<'static, [u8]>) -> Result<Arc<Plugin>, HostError> {
        if let Some(p) = self.shared.loaded.lock().expect("plugin map").get(&digest) {
            return Ok(p.clone());
        }
        let shared = self.shared.clone();
        let size = wasm.len();
        let key = digest.clone();
        let label_owned = label.to_string();
        let started = std::time::Instant::now();
        let component = tokio::task::spawn_blocking(move || {
            compile_cached(&shared.engine, shared.cache_dir.as_deref(), &key, &wasm)
        })
        .await
        .map_err(|e| HostError::Engine(e.to_string()))?
        .map_err(|reason| HostError::Invalid {
            plugin: label_owned.clone(),
            reason,
        })?;
        let compile_time = started.elapsed();

        let contract = contract_version(&self.shared.engine, &component).map_err(|found| {
            HostError::UnsupportedContract {
                plugin: label.to_string(),
                found,
                supported: SUPPORTED_CONTRACTS.iter().map(ToString::to_string).collect(),
            }
        })?;
        let pre = self
            .shared
            .linker
            .instantiate_pre(&component)
            .and_then(|pre| match contract.as_str() {
                "0.1.0" => v0_1_0::PluginPre::new(pre).map(Pre::V0_1_0),
                "0.2.0" => v0_2_0::PluginPre::new(pre).map(Pre::V0_2_0),
                other => Err(wasmtime::Error::msg(format!("the host has no bindings for contract {other}"))),
            })
            .map_err(|e| HostError::Invalid {
                plugin: label.to_string(),
                reason: format!("{e:#}"),
            })?;
        let info = call_describe(&self.shared, label, &pre)
            .await
            .map_err(|e| HostError::Describe {
                plugin: label.to_string(),
                source: Box::new(e),
            })?;
        let plugin = Arc::new(Plugin {
            label: label.to_string(),
            pre,
            info,
            digest: digest.clone(),
            contract,
            size,
            compile_time,
        });
        self.shared
            .loaded
            .lock()
            .expect("plugin map")
            .insert(digest, plugin.clone());
        Ok(plugin)
    }

    /// A backend over an already loaded plugin, with explicit settings and
    /// allowed hosts (`host` or `host:port`). The config file path goes
    /// through [`crate::BackendSet::build`] instead.
    pub fn backend_with_ca(
        &self,
        name: &str,
        plugin: Arc<Plugin>,
        settings: Vec<(String, String)>,
        allowed_hosts: &[&str],
        ca_file: &Path,
    ) -> Result<crate::Backend, String> {
        let allowed = allowed_hosts
            .iter()
            .map(|h| crate::policy::HostRule::parse(h))
            .collect::<Result<Vec<_>, _>>()?;
        let ca = crate::policy::CaClient::from_pem_file(ca_file)?;
        Ok(crate::Backend::new(self.shared.clone(), name.to_string(), plugin, settings, allowed, 0, Some(ca)))
    }

    /// A backend over an already loaded plugin, with explicit settings and
    /// allowed hosts (`host` or `host:port`). The config file path goes
    /// through [`crate::BackendSet::build`] instead.
    pub fn backend(
        &self,
        name: &str,
        plugin: Arc<Plugin>,
        settings: Vec<(String, String)>,
        allowed_hosts: &[&str],
    ) -> Result<crate::Backend, String> {
        let allowed = allowed_hosts
            .iter()
            .map(|h| crate::policy::HostRule::parse(h))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(crate::Backend::new(self.shared.clone(), name.to_string(), plugin, settings, allowed, 0, None))
    }

    /// Loads a plugin by bundled name or by path to a `.wasm` component.
    pub async fn load_named(&self, name_or_path: &str) -> Result<Arc<Plugin>, HostError> {
        if let Some(bytes) = crate::bundled::lookup(name_or_path) {
            return self.load_bundled(name_or_path, bytes).await;
        }
        let path = Path::new(name_or_path);
        if path.extension().is_some_and(|e| e == "wasm") {
            let bytes = tokio::fs::read(path).await.map_err(|e| HostError::Invalid {
                plugin: name_or_path.to_string(),
                reason: format!("cannot read {}: {e}", path.display()),
            })?;
            return self.load(name_or_path, &bytes).await;
        }
        Err(HostError::Invalid {
            plugin: name_or_path.to_string(),
            reason: format!(
                "no bundled plugin has this name (bundled: {}) and it is not a path to a .wasm file",
                crate::bundled::NAMES.join(", ")
            ),
        })
    }
}

/// The contract version `component` was built for, read from the name of
/// its `drover:plugin/backend@VERSION` export, if this host supports it;
/// otherwise what it exports instead, for the refusal.
fn contract_version(engine: &Engine, component: &Component) -> Result<String, String> {
    let ty = component.component_type();
    let names: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    let Some(name) = names
        .iter()
        .find(|n| n.split('@').next() == Some(BACKEND_EXPORT))
    else {
        return Err(format!(
            "none (it exports no `{BACKEND_EXPORT}@VERSION` interface; its exports: {})",
            if names.is_empty() { "none".to_string() } else { names.join(", ") }
        ));
    };
    let version = name.split_once('@').map_or("", |(_, v)| v);
    if version.is_empty() {
        return Err(format!("none (it exports `{name}` without a version)"));
    }
    if SUPPORTED_CONTRACTS.contains(&version) {
        Ok(version.to_string())
    } else {
        Err(version.to_string())
    }
}

/// Compiles a component, or deserializes the artifact a previous run left in
/// `cache_dir`. Artifacts are keyed by content hash and wasmtime version;
/// anything unreadable is recompiled and rewritten.
fn compile_cached(
    engine: &Engine,
    cache_dir: Option<&Path>,
    digest: &str,
    wasm: &[u8],
) -> Result<Component, String> {
    let artifact = cache_dir.map(|d| {
        d.join(format!(
            "{digest}-{:016x}.cwasm",
            engine_fingerprint(engine)
        ))
    });
    if let Some(path) = &artifact
        && path.exists()
    {
        match deserialize_artifact(engine, path) {
            Ok(c) => return Ok(c),
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "stale plugin artifact; recompiling"),
        }
    }
    let component = Component::new(engine, wasm).map_err(|e| format!("{e:#}"));
    give_back_compile_memory();
    let component = component?;
    if let Some(path) = &artifact {
        match component.serialize() {
            Ok(bytes) => {
                // A name of its own: tests and several drover commands may
                // compile the same component into one cache at once.
                static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let tmp = path.with_extension(format!("{}-{n}.tmp", std::process::id()));
                match std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path)) {
                    // Used from the file, like after a restart: its pages are
                    // the kernel's to share and drop, where the freshly compiled
                    // code would stay in this process's own memory.
                    Ok(()) => match deserialize_artifact(engine, path) {
                        Ok(c) => return Ok(c),
                        Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot load the artifact just written"),
                    },
                    Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot write plugin artifact"),
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot serialize plugin artifact"),
        }
    }
    Ok(component)
}

/// Compiling a large component (the Python livy plugin: ~300 MB of
/// compiler heap) leaves glibc's arenas holding memory nobody uses any more;
/// hand it back to the kernel, or a first start stays that large for good.
#[allow(unsafe_code)]
fn give_back_compile_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Changes with the wasmtime version, the target and the engine settings.
fn engine_fingerprint(engine: &Engine) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    h.finish()
}

#[allow(unsafe_code)]
fn deserialize_artifact(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the artifact was written by `compile_cached` into a directory
    // drover owns, under a name that carries the wasmtime version; wasmtime
    // itself rejects artifacts from other versions or engine settings.
    unsafe { Component::deserialize_file(engine, path) }
}
