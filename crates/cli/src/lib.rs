//! The `drover` command: the only crate that wires the others together.
//!
//! Subcommands live here, not in `main.rs`, so tests can drive them. The
//! all-in-one `standalone` mode is a library function ([`standalone::start`])
//! that end-to-end tests call in-process.
//!
//! What it must not do: hold logic another crate could own. It parses flags
//! and the config file, builds the pieces and connects them; scheduling
//! rules live in drover-scheduler, wire formats in the plugins.

mod client;
pub mod config;
pub mod plugins;
pub mod scaffold;
pub mod lease;
pub mod serve;
pub mod standalone;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "drover", version, about = "Runs Spark-style applications on schedules, on any cluster manager")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// How the log (on stderr) is written: `text` for people, `json` (one
    /// object per line) for log shippers.
    #[arg(long, global = true, env = "DROVER_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything in one process: a local stand-in cluster, the scheduler,
    /// the HTTP API and UI, with state in SQLite under the home directory.
    Standalone(standalone::Options),
    /// The scheduler, HTTP API and UI against the backends of a config file
    /// (real clusters).
    Serve {
        #[command(flatten)]
        serve: serve::ServeArgs,
        /// The config file with [backends.NAME] tables.
        #[arg(long, env = "DROVER_CONFIG")]
        config: PathBuf,
    },
    /// Only the local stand-in cluster (Spark standalone, YARN with WebHDFS,
    /// Kubernetes, EMR Serverless, EMR on EKS and Livy APIs, and an S3
    /// endpoint), for `drover standalone --cluster-url`.
    Devcluster {
        /// Port of its APIs (0: any free port).
        #[arg(long, default_value_t = 6066)]
        port: u16,
        /// Where drivers run and keep their output.
        #[arg(long, default_value = ".drover/devcluster")]
        work_dir: PathBuf,
        /// Cores of the simulated Spark worker (drivers beyond it wait).
        #[arg(long, default_value_t = 8)]
        worker_cores: u32,
        /// Memory of the simulated Spark worker, in MiB.
        #[arg(long, default_value_t = 16384)]
        worker_memory_mb: u32,
        /// Another S3 endpoint (path-style, e.g. MinIO's or moto's) the
        /// Kubernetes and EMR stand-ins fetch drivers' s3:// and s3a:// files
        /// from, instead of serving S3 themselves.
        #[arg(long)]
        s3: Option<String>,
        /// Port of the stand-in's own S3 endpoint (0: any free port), whose
        /// buckets are directories under <work-dir>/s3; unused with --s3.
        #[arg(long, default_value_t = 0, conflicts_with = "s3")]
        s3_port: u16,
    },
    /// Work with DAG files.
    #[command(subcommand)]
    Dags(DagsCommand),
    /// Inspect DAG runs on a running instance.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Write and check backend plugins.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Task instances on a running instance.
    #[command(subcommand)]
    Tasks(TasksCommand),
    /// drover's database: apply migrations, forget old runs.
    #[command(subcommand)]
    Db(DbCommand),
    /// Runs for every schedule tick in a date range, on a running instance.
    #[command(subcommand)]
    Backfill(BackfillCommand),
    /// A local stand-in for spark-submit (client mode): runs the application
    /// as a local process. The stand-in cluster's client-mode backend uses it.
    #[command(name = "spark-submit", hide = true, disable_help_flag = true)]
    SparkSubmit {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct ServerArg {
    /// URL of a running drover.
    #[arg(long, env = "DROVER_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// API token for changes (trigger); default: read from --token-file.
    #[arg(long, env = "DROVER_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Where a local drover keeps its token.
    #[arg(long, env = "DROVER_API_TOKEN_FILE", default_value = ".drover/api-token")]
    pub token_file: std::path::PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum DagsCommand {
    /// List DAGs: from a running instance with --server, else from the files.
    List {
        #[arg(long, env = "DROVER_SERVER")]
        server: Option<String>,
        #[command(flatten)]
        local: config::LocalArgs,
    },
    /// Check DAG files and print every problem; exit 1 if any file is broken.
    Validate {
        /// Files or folders (default: the DAG folder).
        paths: Vec<PathBuf>,
        #[command(flatten)]
        local: config::LocalArgs,
    },
    /// Start a run; prints its run id.
    Trigger {
        dag_id: String,
        /// Run configuration, a JSON object checked against the DAG's params.
        #[arg(long)]
        conf: Option<String>,
        /// Wait for the run to end; exit 0 on success, 1 on failure.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        server: ServerArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply the database migrations this binary carries (drover also does
    /// at start), e.g. before starting a new version. Refused while a drover
    /// runs on the home.
    Migrate {
        #[arg(long, env = "DROVER_HOME", default_value = ".drover")]
        home: PathBuf,
        /// A PostgreSQL database instead of the home's SQLite file.
        #[arg(long, env = "DROVER_DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Delete runs that ended more than --older-than ago ("30d", "12h"),
    /// with their task instances, tries, driver histories, notifications and
    /// log files. A run still open is never touched; safe while drover runs.
    Clean {
        #[arg(long, env = "DROVER_HOME", default_value = ".drover")]
        home: PathBuf,
        /// A PostgreSQL database instead of the home's SQLite file.
        #[arg(long, env = "DROVER_DATABASE_URL")]
        database_url: Option<String>,
        #[arg(long, value_parser = humantime::parse_duration)]
        older_than: std::time::Duration,
        /// Only list what would go.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BackfillCommand {
    /// Create a run for every tick of the DAG's schedule from --from to --to
    /// (both included; dates as 2026-01-31 or RFC 3339), at most
    /// --max-active-runs at a time. Prints the backfill's id.
    Create {
        dag_id: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// Which ticks that already have a run get it run again: none,
        /// failed (its run failed), or completed (its run ended).
        #[arg(long, default_value = "none", value_parser = ["none", "failed", "completed"])]
        reprocess: String,
        #[arg(long, default_value_t = 10)]
        max_active_runs: i64,
        /// Newest tick first.
        #[arg(long)]
        run_backwards: bool,
        /// Run configuration for every run, a JSON object.
        #[arg(long)]
        conf: Option<String>,
        /// Only print the logical dates it would run.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// A DAG's backfills with their progress.
    List {
        dag_id: String,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Stop starting the backfill's runs until it is unpaused.
    Pause {
        id: i64,
        #[command(flatten)]
        server: ServerArg,
    },
    Unpause {
        id: i64,
        #[command(flatten)]
        server: ServerArg,
    },
    /// End the backfill: its runs that have not started end failed.
    Cancel {
        id: i64,
        #[command(flatten)]
        server: ServerArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// A conformance run for a plugin (a .wasm file or a bundled name),
    /// printed as a checklist; exit 1 if any check fails. With --against,
    /// also a real lifecycle on that cluster.
    Check(plugins::CheckArgs),
    /// Write a new plugin project: a complete Apache Livy batch plugin to
    /// adapt, which builds with one command (printed at the end).
    New(scaffold::NewArgs),
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// A run's tasks, their tries and their drivers.
    Show {
        dag_id: String,
        run_id: String,
        #[command(flatten)]
        server: ServerArg,
    },
}

/// The whole `drover` binary: parse, run, map the outcome to an exit code
/// (2 for errors, so `dags validate` and `trigger --wait` own 0 and 1).
#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// A try's driver log (client-mode output, or the cluster's driver log).
    Logs {
        dag_id: String,
        run_id: String,
        task_id: String,
        /// Which try (default: the latest).
        #[arg(long = "try")]
        try_number: Option<i64>,
        /// Keep printing new output until the try ends.
        #[arg(long)]
        follow: bool,
        /// For cluster-mode drivers: stdout or stderr.
        #[arg(long, default_value = "stdout")]
        stream: String,
        #[command(flatten)]
        server: ServerArg,
    },
}

pub fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(dispatch(cli))
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let log_format = cli.log_format;
    match cli.command {
        Command::Standalone(opts) => {
            init_logging(log_format);
            standalone::run(opts).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { serve, config } => {
            init_logging(log_format);
            let file = config::load(&config)?;
            let listener = serve::bind(&serve).await?;
            let home = serve::prepare_home(&serve)?;
            let notify = serve::Extras::of(Some(&file));
            let server = serve::start_notifying(listener, &serve, home, &file.backends, &notify).await?;
            println!("drover is running: UI and API at {}", server.api_url());
            println!("{}", standalone::login_hint(&server.login_link()));
            serve::until_signal().await?;
            server.shutdown().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Devcluster {
            port,
            work_dir,
            worker_cores,
            worker_memory_mb,
            s3,
            s3_port,
        } => {
            init_logging(log_format);
            let cluster = drover_devcluster::DevCluster::start(drover_devcluster::DevClusterConfig {
                bind: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                work_dir,
                worker_cores,
                worker_memory_mb,
                s3,
                s3_bind: Some(std::net::SocketAddr::from(([127, 0, 0, 1], s3_port))),
            })
            .await?;
            println!("devcluster listening on {}", cluster.rest_url());
            if let (Some(url), Some(dir)) = (cluster.own_s3_url(), cluster.s3_dir()) {
                println!(
                    "devcluster S3 at {url} (path-style; bucket {} ready; buckets are the directories of {})",
                    drover_devcluster::s3::BUCKET,
                    dir.display()
                );
            }
            serve::until_signal().await?;
            cluster.shutdown().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dags(DagsCommand::List { server, local }) => match server {
            Some(url) => {
                let server = ServerArg {
                    server: url,
                    token: std::env::var("DROVER_API_TOKEN").ok(),
                    token_file: ".drover/api-token".into(),
                };
                client::list_dags(&server).await
            }
            None => config::list_local(&local).await,
        },
        Command::Dags(DagsCommand::Validate { paths, local }) => config::validate(&local, &paths).await,
        Command::Dags(DagsCommand::Trigger {
            dag_id,
            conf,
            wait,
            server,
        }) => client::trigger(&server, &dag_id, conf.as_deref(), wait).await,
        Command::Plugins(PluginsCommand::Check(args)) => plugins::run_check(&args).await,
        Command::Plugins(PluginsCommand::New(args)) => scaffold::run(&args),
        Command::Db(cmd) => {
            init_logging(log_format);
            db(cmd).await
        }
        Command::Backfill(cmd) => {
            init_logging(log_format);
            client::backfill(cmd).await
        }
        Command::Runs(RunsCommand::Show {
            dag_id,
            run_id,
            server,
        }) => client::show_run(&server, &dag_id, &run_id).await,
        Command::Tasks(TasksCommand::Logs {
            dag_id,
            run_id,
            task_id,
            try_number,
            follow,
            stream,
            server,
        }) => client::logs(&server, &dag_id, &run_id, &task_id, try_number, follow, &stream).await,
        Command::SparkSubmit { args } => {
            let code = drover_devcluster::spark_submit(args).await?;
            Ok(ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1)))
        }
    }
}

/// The log goes to stderr (stdout carries what a command prints for
/// people), coloured only when stderr is a terminal and NO_COLOR is unset,
/// so log files and shippers get plain text or JSON lines.
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("DROVER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            builder.with_ansi(colour).try_init()
        }
    };
}

async fn db(cmd: DbCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DbCommand::Migrate { database_url: Some(url), .. } => {
            // sqlx holds an advisory lock while it migrates, so drovers
            // starting meanwhile wait rather than migrate twice.
            let store = drover_store::Store::connect(&url)
                .await
                .with_context(|| format!("cannot migrate {}", lease::redact(&url)))?;
            store.close().await;
            println!("{} is up to date", lease::redact(&url));
        }
        DbCommand::Migrate { home, database_url: None } => {
            let db = home.join("drover.db");
            anyhow::ensure!(db.exists(), "no database at {}: nothing to migrate (drover creates it at first start)", db.display());
            let _lock = serve::lock_home(&home, "none: drover db migrate")?;
            let store = drover_store::Store::open(&db).await?;
            store.close().await;
            println!("{} is up to date", db.display());
        }
        DbCommand::Clean { home, database_url, older_than, dry_run } => {
            let cutoff = chrono::Utc::now() - chrono::Duration::from_std(older_than)?;
            let store = match database_url {
                Some(url) => drover_store::Store::connect(&url).await?,
                None => {
                    let db = home.join("drover.db");
                    anyhow::ensure!(db.exists(), "no database at {}", db.display());
                    drover_store::Store::open(&db).await?
                }
            };
            let runs = store.clean_before(cutoff, dry_run).await?;
            store.close().await;
            for r in &runs {
                println!("{} {} ended {}", r.dag_id, r.run_id, r.end_date.map(|d| d.to_rfc3339()).unwrap_or_default());
                if !dry_run {
                    let dir = drover_scheduler::run_log_dir(&home.join("logs"), &r.dag_id, &r.run_id);
                    if let Err(e) = std::fs::remove_dir_all(&dir)
                        && e.kind() != std::io::ErrorKind::NotFound
                    {
                        eprintln!("cannot remove {}: {e}", dir.display());
                    }
                }
            }
            println!("{} run{} {}", runs.len(), if runs.len() == 1 { "" } else { "s" }, if dry_run { "would go" } else { "deleted" });
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
