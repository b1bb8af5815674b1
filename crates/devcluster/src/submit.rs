//! A local `spark-submit` for client mode, so client-mode DAGs run on machines
//! with no Spark installed (`drover spark-submit …`).
//!
//! It accepts spark-submit's command line, folds the options into Spark properties
//! the way `SparkSubmitArguments` does (properties file < `--conf` < dedicated
//! options), and runs the application in the foreground exactly as a stand-in
//! driver runs ([`crate::process::LaunchPlan`]), inheriting stdio and the caller's
//! process group so the terminal and Ctrl-C behave as with the real launcher.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::process::{self, App, LaunchPlan};

/// Why a spark-submit command line cannot run here.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(
        "the local spark-submit shim only runs client mode (got deploy mode {0:?}); \
         submit cluster-mode applications to a cluster manager"
    )]
    ClusterMode(String),
    #[error(
        "unrecognized option '{0}': the local spark-submit shim accepts --master, --deploy-mode, \
         --class, --name, --conf, --jars, --files, --py-files, --driver-memory, --driver-cores, \
         --executor-memory, --executor-cores, --num-executors, --total-executor-cores, --queue, \
         --proxy-user, --properties-file and --verbose"
    )]
    UnknownOption(String),
    #[error("option '{0}' needs a value")]
    MissingValue(String),
    #[error("--conf expects key=value, got '{0}'")]
    BadConf(String),
    #[error("missing the application resource (a .py, .jar or executable) after the options")]
    MissingResource,
    #[error("reading properties file {}", .path.display())]
    PropertiesFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// spark-submit's options that take a value, and the Spark property each sets
/// (`None`: handled specially).
const VALUE_OPTIONS: [(&str, Option<&str>); 17] = [
    ("--master", Some("spark.master")),
    ("--deploy-mode", Some("spark.submit.deployMode")),
    ("--class", None),
    ("--name", Some("spark.app.name")),
    ("--conf", None),
    ("--jars", Some("spark.jars")),
    ("--files", Some("spark.files")),
    ("--py-files", Some("spark.submit.pyFiles")),
    ("--driver-memory", Some("spark.driver.memory")),
    ("--driver-cores", Some("spark.driver.cores")),
    ("--executor-memory", Some("spark.executor.memory")),
    ("--executor-cores", Some("spark.executor.cores")),
    ("--num-executors", Some("spark.executor.instances")),
    ("--total-executor-cores", Some("spark.cores.max")),
    ("--queue", Some("spark.yarn.queue")),
    ("--properties-file", None),
    ("--proxy-user", None),
];

/// A parsed spark-submit command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitArgs {
    pub main_class: Option<String>,
    /// `--conf` pairs, in order.
    pub conf: Vec<(String, String)>,
    /// Properties set by dedicated options (`--name`, `--jars`, …), which win over `--conf`.
    pub options: BTreeMap<String, String>,
    pub properties_file: Option<PathBuf>,
    /// `--proxy-user`: the user the application runs as.
    pub proxy_user: Option<String>,
    pub verbose: bool,
    pub help: bool,
    pub primary_resource: String,
    pub app_args: Vec<String>,
}

impl SubmitArgs {
    /// Parse spark-submit's argv (without the program name). Options come first,
    /// in `--opt value` or `--opt=value` form; the first other argument is the
    /// primary resource and everything after it belongs to the application.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, SubmitError> {
        let mut parsed = Self::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if !arg.starts_with('-') || arg == "-" {
                parsed.primary_resource = arg;
                parsed.app_args = args.collect();
                return Ok(parsed);
            }
            match arg.as_str() {
                "--verbose" | "-v" => {
                    parsed.verbose = true;
                    continue;
                }
                "--help" | "-h" => {
                    parsed.help = true;
                    return Ok(parsed);
                }
                _ => {}
            }
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                None => (arg.clone(), None),
            };
            let Some(&(_, property)) = VALUE_OPTIONS.iter().find(|(o, _)| *o == name) else {
                return Err(SubmitError::UnknownOption(arg));
            };
            let value = match inline {
                Some(value) => value,
                None => args
                    .next()
                    .ok_or_else(|| SubmitError::MissingValue(name.clone()))?,
            };
            match (name.as_str(), property) {
                ("--class", _) => parsed.main_class = Some(value),
                ("--conf", _) => {
                    let (key, value) = value
                        .split_once('=')
                        .filter(|(k, _)| !k.is_empty())
                        .ok_or_else(|| SubmitError::BadConf(value.clone()))?;
                    parsed.conf.push((key.to_owned(), value.to_owned()));
                }
                ("--properties-file", _) => parsed.properties_file = Some(PathBuf::from(value)),
                ("--proxy-user", _) => parsed.proxy_user = Some(value),
                (_, Some(property)) => {
                    parsed.options.insert(property.to_owned(), value);
                }
                (_, None) => unreachable!("every special option is matched above"),
            }
        }
        if parsed.help {
            return Ok(parsed);
        }
        Err(SubmitError::MissingResource)
    }

    /// The Spark properties the application sees: properties file, then `--conf`,
    /// then dedicated options, plus spark-submit's defaults for master, deploy mode
    /// and app name.
    pub fn spark_properties(&self) -> Result<BTreeMap<String, String>, SubmitError> {
        let mut conf = BTreeMap::new();
        if let Some(path) = &self.properties_file {
            let text =
                std::fs::read_to_string(path).map_err(|source| SubmitError::PropertiesFile {
                    path: path.clone(),
                    source,
                })?;
            conf.extend(parse_properties(&text));
        }
        conf.extend(self.conf.iter().cloned());
        conf.extend(self.options.iter().map(|(k, v)| (k.clone(), v.clone())));
        conf.entry("spark.master".to_owned())
            .or_insert_with(|| "local[*]".to_owned());
        conf.entry("spark.submit.deployMode".to_owned())
            .or_insert_with(|| "client".to_owned());
        if !conf.contains_key("spark.app.name") {
            let name = self.main_class.clone().unwrap_or_else(|| {
                std::path::Path::new(&self.primary_resource)
                    .file_name()
                    .map_or_else(
                        || self.primary_resource.clone(),
                        |n| n.to_string_lossy().into_owned(),
                    )
            });
            conf.insert("spark.app.name".to_owned(), name);
        }
        Ok(conf)
    }

    /// What the application's process gets for `--proxy-user`: the user
    /// Spark names it by (`SPARK_USER`, which `SparkContext.sparkUser`
    /// reads first). The shim runs everything as the caller's OS user; a
    /// real spark-submit impersonates through Hadoop's UGI instead.
    pub fn user_env(&self) -> Option<(String, std::ffi::OsString)> {
        self.proxy_user.as_ref().map(|u| ("SPARK_USER".to_owned(), u.into()))
    }
}

/// `java.util.Properties`-style lines: `key=value`, `key: value` or `key value`;
/// `#` and `!` start comments. (Line continuations are not supported.)
fn parse_properties(text: &str) -> impl Iterator<Item = (String, String)> + '_ {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            return None;
        }
        let split = line
            .find(|c: char| c == '=' || c == ':' || c.is_whitespace())
            .unwrap_or(line.len());
        let (key, rest) = line.split_at(split);
        let value = rest
            .trim_start()
            .strip_prefix(['=', ':'])
            .unwrap_or(rest)
            .trim();
        Some((key.to_owned(), value.to_owned()))
    })
}

const USAGE: &str = "\
Usage: spark-submit [options] <app jar | python file | executable> [app arguments]
(drover's local shim: client mode only, runs the application as a local process)

Options:
  --master MASTER_URL         recorded as spark.master (default local[*])
  --deploy-mode client        only client mode is supported
  --class CLASS_NAME          main class (required for a jar)
  --name NAME                 spark.app.name
  --conf KEY=VALUE            any Spark property (repeatable)
  --jars JARS                 comma-separated jars added to the classpath
  --files FILES, --py-files PY_FILES (added to PYTHONPATH)
  --driver-memory MEM, --driver-cores N, --executor-memory MEM, --executor-cores N,
  --num-executors N, --total-executor-cores N, --queue QUEUE
  --proxy-user NAME           run as NAME (sets SPARK_USER; the shim does not impersonate)
  --properties-file FILE      Spark properties file
  --verbose, -v               print the parsed arguments and the command run
";

/// Run a spark-submit command line locally in client mode, in the foreground,
/// and answer the application's exit code (128 + signal if a signal ended it).
pub async fn spark_submit(args: Vec<String>) -> anyhow::Result<i32> {
    let parsed = SubmitArgs::parse(args)?;
    if parsed.help {
        eprint!("{USAGE}");
        return Ok(0);
    }
    let conf = parsed.spark_properties()?;
    let deploy_mode = conf
        .get("spark.submit.deployMode")
        .map_or("client", String::as_str);
    if deploy_mode != "client" {
        return Err(SubmitError::ClusterMode(deploy_mode.to_owned()).into());
    }
    let mut plan = LaunchPlan::resolve(&App {
        resource: &parsed.primary_resource,
        main_class: parsed.main_class.as_deref(),
        args: &parsed.app_args,
        conf: &conf,
    })?;
    plan.env.extend(parsed.user_env());
    if parsed.verbose {
        eprintln!("Parsed arguments: {parsed:#?}");
        eprintln!("Spark config:");
        for (key, value) in &conf {
            eprintln!("({key},{value})");
        }
        eprintln!("Launch Command: {}", plan.display());
    }
    // Stdio and the process group are inherited: this is the foreground program.
    let mut cmd = tokio::process::Command::from(plan.command());
    cmd.kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", plan.display()))?;
    let status = child
        .wait()
        .await
        .with_context(|| format!("waiting for {}", plan.display()))?;
    Ok(process::exit_code(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_options_in_both_forms_and_keeps_app_args_verbatim() {
        let parsed = SubmitArgs::parse(args(
            "--master spark://h:7077 --name=job --conf a.b=1 --conf=c.d=x=y --class Main \
             --jars x.jar,y.jar -v app.jar --conf not-an-option",
        ))
        .unwrap();
        assert_eq!(parsed.main_class.as_deref(), Some("Main"));
        assert!(parsed.verbose);
        assert_eq!(parsed.primary_resource, "app.jar");
        assert_eq!(parsed.app_args, ["--conf", "not-an-option"]);
        let conf = parsed.spark_properties().unwrap();
        assert_eq!(conf["spark.master"], "spark://h:7077");
        assert_eq!(conf["spark.app.name"], "job");
        assert_eq!(conf["a.b"], "1");
        assert_eq!(conf["c.d"], "x=y");
        assert_eq!(conf["spark.jars"], "x.jar,y.jar");
        assert_eq!(conf["spark.submit.deployMode"], "client");
    }

    #[test]
    fn a_proxy_user_becomes_the_applications_spark_user() {
        let parsed = SubmitArgs::parse(args("--proxy-user analyst --class Main app.jar")).unwrap();
        assert_eq!(parsed.proxy_user.as_deref(), Some("analyst"));
        assert_eq!(parsed.user_env(), Some(("SPARK_USER".to_owned(), "analyst".into())));
        assert_eq!(SubmitArgs::parse(args("app.jar")).unwrap().user_env(), None);
    }

    #[test]
    fn dedicated_options_win_over_conf() {
        let parsed = SubmitArgs::parse(args(
            "--driver-memory 2g --conf spark.driver.memory=1g a.py",
        ))
        .unwrap();
        assert_eq!(
            parsed.spark_properties().unwrap()["spark.driver.memory"],
            "2g"
        );
    }

    #[test]
    fn rejects_unknown_options_and_missing_values() {
        assert!(matches!(
            SubmitArgs::parse(args("--frobnicate a.py")),
            Err(SubmitError::UnknownOption(o)) if o == "--frobnicate"
        ));
        assert!(matches!(
            SubmitArgs::parse(args("--master")),
            Err(SubmitError::MissingValue(_))
        ));
        assert!(matches!(
            SubmitArgs::parse(args("--conf novalue a.py")),
            Err(SubmitError::BadConf(_))
        ));
        assert!(matches!(
            SubmitArgs::parse(args("--master local")),
            Err(SubmitError::MissingResource)
        ));
    }

    #[test]
    fn properties_files_parse_like_java_properties() {
        let props: BTreeMap<_, _> =
            parse_properties("# c\nspark.a  1\nspark.b=2\nspark.c : 3\n! c\n").collect();
        assert_eq!(props["spark.a"], "1");
        assert_eq!(props["spark.b"], "2");
        assert_eq!(props["spark.c"], "3");
    }
}
