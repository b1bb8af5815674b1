//! Entry points: one string, one file, or a directory of DAG files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use toml::de::DeTable;

use crate::application::Backends;
use crate::dag::Dag;
use crate::diagnostic::{Diags, LoadError};
use crate::{schema, validate};

/// Parses and validates one DAG file's text. `file` is used for messages and to resolve
/// relative paths in the application (against its directory).
pub fn parse_str(file: &Path, text: &str, backends: &dyn Backends) -> Result<Dag, LoadError> {
    let mut d = Diags::new(file, text);
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            d.error(
                e.span().unwrap_or(0..0),
                format!("invalid TOML: {}", e.message().trim_end()),
                None,
            );
            return Err(d.into_error());
        }
    };
    let raw = schema::read(doc.get_ref(), &mut d);
    match validate::check(raw, file, text, backends, &mut d) {
        Some(dag) if d.is_empty() => Ok(dag),
        _ => Err(d.into_error()),
    }
}

/// Reads and checks one DAG file; an unreadable file is one diagnostic at 1:1.
pub fn load_file(path: &Path, backends: &dyn Backends) -> Result<Dag, LoadError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_str(path, &text, backends),
        Err(e) => Err(LoadError::at(
            path,
            1,
            1,
            format!("cannot read DAG file: {e}"),
            None,
        )),
    }
}

/// The DAGs of a directory, and the files that failed.
#[derive(Debug, Default)]
pub struct DirLoad {
    pub dags: Vec<Dag>,
    pub errors: Vec<LoadError>,
}

/// Loads every `*.toml` directly in `dir`, in name order. A broken file never stops the
/// others. When two files share a DAG id, the later one is an error naming the first.
pub fn load_dir(dir: &Path, backends: &dyn Backends) -> DirLoad {
    let mut out = DirLoad::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            out.errors.push(LoadError::at(
                dir,
                1,
                1,
                format!("cannot read DAG directory: {e}"),
                None,
            ));
            return out;
        }
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let path = match entry {
            Ok(entry) => entry.path(),
            Err(e) => {
                out.errors.push(LoadError::at(dir, 1, 1, format!("cannot list DAG directory: {e}"), None));
                continue;
            }
        };
        if path.extension().is_none_or(|ext| ext != "toml") {
            continue;
        }
        // A `*.toml` entry that is no regular file (a symlink loop, a
        // dangling link, a device such as /dev/zero, a folder) is reported,
        // never skipped silently nor read.
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => files.push(path),
            Ok(meta) => out.errors.push(LoadError::at(
                &path,
                1,
                1,
                format!("skipped: not a regular file ({})", file_kind(&meta)),
                Some("a DAG file is a regular file or a symlink to one".into()),
            )),
            Err(e) => out.errors.push(LoadError::at(
                &path,
                1,
                1,
                format!("skipped: cannot open ({})", open_failure(&path, &e)),
                Some("a DAG file is a regular file or a symlink to one".into()),
            )),
        }
    }
    files.sort();
    out.errors.sort_by(|a, b| a.file.cmp(&b.file));
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for file in files {
        match load_file(&file, backends) {
            Ok(dag) => {
                if let Some(first) = seen.get(&dag.id) {
                    let (line, col) = dag.id_position;
                    out.errors.push(LoadError::at(
                        &file,
                        line,
                        col,
                        format!("duplicate DAG id \"{}\"", dag.id),
                        Some(format!("\"{}\" already defines it", first.display())),
                    ));
                } else {
                    seen.insert(dag.id.clone(), file);
                    out.dags.push(dag);
                }
            }
            Err(e) => out.errors.push(e),
        }
    }
    out
}

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a named pipe"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

fn open_failure(path: &Path, e: &std::io::Error) -> String {
    let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    match (link, e.kind()) {
        (true, std::io::ErrorKind::NotFound) => "a symlink to nothing".into(),
        // ELOOP, "too many levels of symbolic links", has no stable kind.
        (true, _) => format!("a symlink that cannot be followed: {e}"),
        (false, _) => e.to_string(),
    }
}
