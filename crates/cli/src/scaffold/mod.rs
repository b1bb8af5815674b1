//! `drover plugins new NAME --lang rust|python|js`: writes a complete backend
//! plugin project outside the repository, one command away from a `.wasm`
//! component. Each language has its module; what they share (the contract
//! folder, the checks on the name and the folder, writing files) is here.

mod js;
mod python;
mod rust;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

/// The contract, as the generated project's `wit/` folder.
pub(crate) const CONTRACT: &[(&str, &str)] = &[
    (
        "plugin.wit",
        include_str!("../../../../plugins/wit/drover-plugin@0.2.0/plugin.wit"),
    ),
    (
        "deps/cli.wit",
        include_str!("../../../../plugins/wit/drover-plugin@0.2.0/deps/cli.wit"),
    ),
    (
        "deps/clocks.wit",
        include_str!("../../../../plugins/wit/drover-plugin@0.2.0/deps/clocks.wit"),
    ),
    (
        "deps/filesystem.wit",
        include_str!("../../../../plugins/wit/drover-plugin@0.2.0/deps/filesystem.wit"),
    ),
    (
        "deps/http.wit",
        include_str!("../../../../plugins/wit/drover-plugin@0.2.0/deps/http.wit"),
    ),
    (
        "deps/io.wit",
        include_str!("../../../../plugins/wit/drover-plugin@0.2.0/deps/io.wit"),
    ),
    (
        "deps/random.wit",
        include_str!("../../../../plugins/wit/drover-plugin@0.2.0/deps/random.wit"),
    ),
    (
        "deps/sockets.wit",
        include_str!("../../../../plugins/wit/drover-plugin@0.2.0/deps/sockets.wit"),
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The plugin's name, a Rust crate name (letters, digits, `-`, `_`).
    pub name: String,
    /// The language of the project.
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: Lang,
    /// Where to write it (default: ./NAME); must be missing or empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Writes the project and prints how to build and use it.
pub fn run(args: &NewArgs) -> anyhow::Result<ExitCode> {
    match args.lang {
        Lang::Rust | Lang::Python | Lang::Js => {}
    }
    check_name(&args.name)?;
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    check_dir(&dir)?;
    match args.lang {
        Lang::Rust => rust::write(&args.name, &dir),
        Lang::Python => python::write(&args.name, &dir),
        Lang::Js => js::write(&args.name, &dir),
    }
}

/// A crate name cargo accepts and Rust can name: ASCII letters, digits, `-`
/// and `_`, starting with a letter, not a keyword or a standard crate.
fn check_name(name: &str) -> anyhow::Result<()> {
    const RESERVED: &[&str] = &[
        "alloc",
        "core",
        "proc_macro",
        "std",
        "test",
        "self",
        "super",
        "crate",
        "Self",
        "as",
        "async",
        "await",
        "break",
        "const",
        "continue",
        "dyn",
        "else",
        "enum",
        "extern",
        "false",
        "fn",
        "for",
        "gen",
        "if",
        "impl",
        "in",
        "let",
        "loop",
        "match",
        "mod",
        "move",
        "mut",
        "pub",
        "ref",
        "return",
        "static",
        "struct",
        "trait",
        "true",
        "type",
        "unsafe",
        "use",
        "where",
        "while",
        "abstract",
        "become",
        "box",
        "do",
        "final",
        "macro",
        "override",
        "priv",
        "try",
        "typeof",
        "unsized",
        "virtual",
        "yield",
        "sdk",
        "build",
        "deps",
        "examples",
        "incremental",
    ];
    let hint = "use a crate name: ASCII letters, digits, `-` and `_`, starting with a letter, e.g. `my-livy`";
    let Some(first) = name.chars().next() else {
        bail!("the plugin name is empty; {hint}");
    };
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        bail!("invalid plugin name `{name}`: {bad:?} is not allowed in a crate name; {hint}");
    }
    if !first.is_ascii_alphabetic() {
        bail!("invalid plugin name `{name}`: it must start with a letter; {hint}");
    }
    if name.len() > 64 {
        bail!("invalid plugin name `{name}`: at most 64 characters; {hint}");
    }
    if RESERVED.contains(&name.replace('-', "_").as_str()) {
        bail!("invalid plugin name `{name}`: it is a Rust keyword or a name cargo reserves; {hint}");
    }
    Ok(())
}

/// A project goes into a new or empty folder, never over someone's files.
fn check_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        bail!("{} exists and is not a folder; choose another --dir", dir.display());
    }
    let mut entries = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    if entries.next().is_some() {
        bail!(
            "{} is not empty; choose a new or empty folder with --dir, nothing was written",
            dir.display()
        );
    }
    Ok(())
}

pub(crate) fn write_files(dir: &Path, files: &[(String, String)]) -> anyhow::Result<()> {
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// `text` with `from` replaced by `to`; an error when `from` is not there, so
/// a change in the sources the template is made from cannot pass unnoticed.
pub(crate) fn rewrite(text: &str, from: &str, to: &str, file: &str) -> anyhow::Result<String> {
    if !text.contains(from) {
        bail!("scaffold template out of date: {file} no longer contains {from:?} (a bug in drover)");
    }
    Ok(text.replace(from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_not_crate_names_are_refused() {
        for bad in ["", "1abc", "my livy", "my.livy", "crate", "std", "a/b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["mylivy", "my-livy", "My_Livy2"] {
            check_name(good).unwrap();
        }
    }
}
