//! The web UI in a real browser: drover runs in this process on DAGs the test
//! writes, and `tests/web/ui.test.mjs` drives the system's Chromium through
//! it with playwright-core (log in, trigger with params, follow a run live,
//! read logs, kill a driver, see why a task waits for its pool). Needs node,
//! `npm ci` in tests/web and /usr/bin/chromium; fails, never skips, without
//! them.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use support::drover::{script, start, write};

/// The browser steps wait up to a minute each; this bounds the whole script.
const DEADLINE: Duration = Duration::from_secs(600);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// What the browser test needs on the machine, each with how to get it.
fn check_prerequisites(web: &Path) {
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is not installed: the web UI test runs tests/web/ui.test.mjs with node (apt-get install nodejs npm)"
    );
    assert!(
        web.join("node_modules/playwright-core").is_dir(),
        "tests/web/node_modules is missing: run `npm ci` in tests/web"
    );
    assert!(
        chromium().exists(),
        "{} is missing: apt-get install chromium (or set CHROMIUM to a Chromium binary)",
        chromium().display()
    );
}

/// A DAG whose drivers print its params, one whose driver runs until killed,
/// and a file that does not load.
fn write_dags(dir: &Path) {
    write(dir, "broken.toml", "id = \"broken\"\n[[tasks]]\nid = \"a\"\ndepends_on = [\"nowhere\"]\n");
    // Daily for the backfill form; it starts in 2199, so only backfills make
    // its runs, each 3 s long (greet.sh sleeps) so the page sees them go.
    write(
        dir,
        "ui_daily.toml",
        "id = \"ui_daily\"\ndescription = \"Daily, for the backfill form\"\nschedule = \"@daily\"\nstart_date = \"2199-01-01\"\n\
         [[tasks]]\nid = \"report\"\nbackend = \"local\"\nretries = 0\n\
         [tasks.application]\nresource = \"greet.sh\"\ndeploy_mode = \"client\"\nargs = [\"backfill\", \"1\"]\n",
    );
    // Slow enough that the browser sees the run before it succeeds.
    script(dir, "greet.sh", "#!/bin/sh\nsleep 3\ni=0\nwhile [ $i -lt \"$2\" ]; do i=$((i+1)); echo \"$1 #$i\"; done\n");
    script(dir, "report.sh", "#!/bin/sh\necho \"report: $*\"\necho \"report done\" >&2\n");
    script(dir, "forever.sh", "#!/bin/sh\necho \"started; waiting to be killed\"\nexec sleep 600\n");
    write(
        dir,
        "ui_params.toml",
        r#"
id = "ui_params"
description = "Greets from a cluster-mode driver, then reports its params from a client-mode one"
tags = ["ui-test"]

[params]
count = { default = 3, type = "integer", minimum = 1, maximum = 1000, description = "How many greetings" }
greeting = { default = "hello", type = "string", description = "What the drivers print" }
who = { type = "string", required = true, description = "Who is greeted" }
loud = { default = false, type = "boolean" }
colour = { default = "blue", enum = ["red", "green", "blue"] }
extra = { default = { a = 1 }, type = "object" }

[defaults]
backend = "local"
retries = 0

[[tasks]]
id = "greet"
[tasks.application]
resource = "greet.sh"
main_class = "Greet"
deploy_mode = "cluster"
args = ["{{ params.greeting }}", "{{ params.count }}"]

[[tasks]]
id = "report"
depends_on = ["greet"]
[tasks.application]
resource = "report.sh"
deploy_mode = "client"
args = ["greeting={{ params.greeting }}", "count={{ params.count }}", "who={{ params.who }}"]
"#,
    );
    write(
        dir,
        "ui_sleepy.toml",
        r#"
id = "ui_sleepy"
description = "One driver that runs until it is killed"

[defaults]
backend = "local"
retries = 0

[[tasks]]
id = "forever"
[tasks.application]
resource = "forever.sh"
main_class = "Forever"
deploy_mode = "cluster"
"#,
    );
}

/// A task in a pool the browser test creates with no slots: it stays queued.
fn write_pooled_dag(dir: &Path) {
    write(
        dir,
        "ui_pooled.toml",
        r#"
id = "ui_pooled"
description = "One task that waits for a pool without room"

[[tasks]]
id = "waits"
backend = "local"
pool = "ui_full"
[tasks.application]
resource = "report.sh"
deploy_mode = "client"
"#,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_triggers_follows_and_kills_runs_in_a_real_browser() {
    let web = repo_root().join("tests/web");
    check_prerequisites(&web);
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    write_dags(dags.path());
    write_pooled_dag(dags.path());
    let d = start(home.path(), dags.path(), None).await.expect("drover starts");
    let token = d.api_token().to_string();
    let shots = repo_root().join("tests/output/ui-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    for old in std::fs::read_dir(&shots).unwrap().flatten() {
        if old.path().extension().is_some_and(|e| e == "png") {
            std::fs::remove_file(old.path()).unwrap();
        }
    }
    println!("web UI test: drover at {}, screenshots in {}", d.api_url(), shots.display());

    browser_script_passes("ui.test.mjs", &web, d, &token, &shots).await;
}

/// A DAG of 5,000 tasks (500 chains of 10) whose first task runs until its
/// run is failed and every other chain waits on it, so one driver runs and
/// 4,999 tasks wait; and a DAG whose driver runs until its run is failed.
fn write_scale_dags(dir: &Path) {
    script(dir, "ok.sh", "#!/bin/sh\nexit 0\n");
    script(dir, "forever.sh", "#!/bin/sh\necho \"started; waiting to be killed\"\nexec sleep 600\n");
    let mut wide = String::from(
        "id = \"wide\"\ndescription = \"5,000 tasks\"\n[defaults]\nbackend = \"local\"\nretries = 0\n",
    );
    for g in 0..500 {
        for i in 0..10 {
            wide.push_str(&format!("\n[[tasks]]\nid = \"g{g:04}_{i:02}\"\n"));
            if i > 0 {
                wide.push_str(&format!("depends_on = [\"g{g:04}_{:02}\"]\n", i - 1));
            } else if g > 0 {
                wide.push_str("depends_on = [\"g0000_00\"]\n");
            }
            let resource = if g == 0 && i == 0 { "forever.sh" } else { "ok.sh" };
            wide.push_str(&format!("[tasks.application]\nresource = \"{resource}\"\ndeploy_mode = \"client\"\n"));
        }
    }
    write(dir, "wide.toml", &wide);
    write(
        dir,
        "sleepy.toml",
        "id = \"sleepy\"\n[defaults]\nbackend = \"local\"\nretries = 0\n\n[[tasks]]\nid = \"forever\"\n[tasks.application]\nresource = \"forever.sh\"\nmain_class = \"Forever\"\ndeploy_mode = \"cluster\"\n",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_stays_usable_at_5000_tasks_and_shows_drivers_and_a_gantt_chart() {
    let web = repo_root().join("tests/web");
    check_prerequisites(&web);
    let home = tempfile::tempdir().unwrap();
    let dags = tempfile::tempdir().unwrap();
    write_scale_dags(dags.path());
    let d = start(home.path(), dags.path(), None).await.expect("drover starts");
    let shots = repo_root().join("tests/output/ui-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let token = d.api_token().to_string();
    browser_script_passes("scale.test.mjs", &web, d, &token, &shots).await;
}

/// Runs a browser script of tests/web against `d` (node's output goes
/// straight to the test's output), stops `d`, and fails unless the script
/// passed within the deadline.
async fn browser_script_passes(name: &str, web: &Path, d: support::drover::Running, token: &str, shots: &Path) {
    let mut node = tokio::process::Command::new("node")
        .arg(name)
        .current_dir(web)
        .env("DROVER_URL", d.api_url())
        .env("DROVER_TOKEN", token)
        .env("SCREENSHOT_DIR", shots)
        .env("CHROMIUM", chromium())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("run node");
    let status = tokio::time::timeout(DEADLINE, node.wait()).await;
    d.shutdown().await;
    match status {
        Ok(Ok(s)) => assert!(
            s.success(),
            "browser test {name} failed ({s}); see its steps above and the screenshots in {}",
            shots.display()
        ),
        Ok(Err(e)) => panic!("node: {e}"),
        Err(_) => panic!("browser test {name} did not finish in {DEADLINE:?}"),
    }
}
