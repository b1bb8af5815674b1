//! Reading a Spark ApplicationMaster's launch command the way the
//! NodeManager and the AM would: bash's word splitting, the container
//! variables (`{{PWD}}`, `<LOG_DIR>`, …), the AM's options, and the
//! `--properties-file` it points at.

use std::collections::BTreeMap;

const SPARK_AM_CLASS: &str = "org.apache.spark.deploy.yarn.ApplicationMaster";
const PYTHON_RUNNER: &str = "org.apache.spark.deploy.PythonRunner";

#[derive(Debug, Clone)]
pub(super) struct AmLaunch {
    pub(super) resource: String,
    pub(super) main_class: Option<String>,
    pub(super) args: Vec<String>,
    pub(super) conf: BTreeMap<String, String>,
    /// The command with `{{PWD}}`/`<LOG_DIR>` still in it, expanded per container.
    pub(super) environment: Vec<(String, String)>,
}


/// What the NodeManager substitutes in a container's command and environment.
pub(super) fn expand_container_vars(s: &str, dir: &std::path::Path) -> String {
    let dir = dir.display().to_string();
    let java_home = std::env::var("JAVA_HOME").unwrap_or_default();
    s.replace("{{PWD}}", &dir)
        .replace("<LOG_DIR>", &dir)
        .replace("{{JAVA_HOME}}", &java_home)
        .replace("<CPS>", ":")
}

/// `java.util.Properties` lines (`k=v`, `k: v`, `k v`; `#`/`!` comments).
pub(super) fn parse_properties(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .map(|line| {
            let split = line
                .find(|c: char| c == '=' || c == ':' || c.is_whitespace())
                .unwrap_or(line.len());
            let (k, rest) = line.split_at(split);
            let v = rest
                .trim_start()
                .strip_prefix(['=', ':'])
                .unwrap_or(rest)
                .trim();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Splits a command line the way bash would for plain words: whitespace
/// separates, single quotes are literal, double quotes and backslashes escape.
fn shell_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The user application a Spark ApplicationMaster command would start.
pub(super) fn parse_am_command(command: &str, environment: Vec<(String, String)>) -> Result<AmLaunch, String> {
    let words = shell_words(command).map_err(|e| format!("cannot parse the AM command: {e}"))?;
    let am = words.iter().position(|w| w == SPARK_AM_CLASS).ok_or_else(|| {
        format!(
            "the stand-in runs only Spark ApplicationMasters ({SPARK_AM_CLASS}); the AM command was: {command}"
        )
    })?;
    let mut conf = BTreeMap::new();
    for w in &words[..am] {
        if let Some((k, v)) = w.strip_prefix("-D").and_then(|kv| kv.split_once('='))
            && k.starts_with("spark.")
        {
            conf.insert(k.to_owned(), v.to_owned());
        }
    }
    let (mut class, mut jar, mut py, mut args) = (None, None, None, Vec::new());
    let mut rest = words[am + 1..].iter();
    while let Some(flag) = rest.next() {
        if flag.starts_with('1') && flag.contains('>')
            || flag.starts_with('2') && flag.contains('>')
        {
            continue;
        }
        let mut value = || {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("AM option {flag} needs a value"))
        };
        match flag.as_str() {
            "--class" => class = Some(value()?),
            "--jar" => jar = Some(value()?),
            "--primary-py-file" => py = Some(value()?),
            "--arg" => args.push(value()?),
            "--properties-file" => {
                conf.insert("__properties_file__".to_owned(), value()?);
            }
            "--primary-r-file" | "--dist-cache-conf" => {
                value()?;
            }
            other => return Err(format!("unknown ApplicationMaster option {other}")),
        }
    }
    let (resource, main_class) = match (py, jar) {
        (Some(py), _) => (py, None),
        (None, Some(jar)) => (jar, class.filter(|c| c != PYTHON_RUNNER)),
        (None, None) => return Err("the AM command names no --jar or --primary-py-file".into()),
    };
    Ok(AmLaunch {
        resource,
        main_class,
        args,
        conf,
        environment,
    })
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_commands_like_bash() {
        assert_eq!(
            shell_words(
                r#"java -Xmx1m '-Dspark.a=b c' --arg 'it'\''s' --arg "x \"y\"" 1><LOG_DIR>/stdout"#
            )
            .unwrap(),
            [
                "java",
                "-Xmx1m",
                "-Dspark.a=b c",
                "--arg",
                "it's",
                "--arg",
                "x \"y\"",
                "1><LOG_DIR>/stdout"
            ]
        );
        assert!(shell_words("'open").is_err());
    }

    #[test]
    fn reads_the_user_application_from_a_spark_am_command() {
        let cmd = "{{JAVA_HOME}}/bin/java -server -Xmx512m '-Dspark.app.name=x y' \
                   org.apache.spark.deploy.yarn.ApplicationMaster --class 'com.example.Main' \
                   --jar 'file:/a/app.jar' --arg 'one' --arg 'two words' 1><LOG_DIR>/stdout 2><LOG_DIR>/stderr";
        let am = parse_am_command(cmd, vec![]).unwrap();
        assert_eq!(am.resource, "file:/a/app.jar");
        assert_eq!(am.main_class.as_deref(), Some("com.example.Main"));
        assert_eq!(am.args, ["one", "two words"]);
        assert_eq!(am.conf["spark.app.name"], "x y");

        let py = "java org.apache.spark.deploy.yarn.ApplicationMaster --class org.apache.spark.deploy.PythonRunner \
                  --primary-py-file /a/job.py --arg 1";
        let am = parse_am_command(py, vec![]).unwrap();
        assert_eq!((am.resource.as_str(), am.main_class), ("/a/job.py", None));

        assert!(
            parse_am_command("sleep 10", vec![])
                .unwrap_err()
                .contains("only Spark")
        );
    }
}
