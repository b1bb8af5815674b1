//! Positioned problems in a DAG file, and the collector that gathers them.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A byte range in the DAG file's text.
pub(crate) type Span = Range<usize>;

/// One problem in a DAG file, at a 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file.display(),
            self.line,
            self.col,
            self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in one file. A file either yields a `Dag` or this.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", render_all(.diagnostics))]
pub struct LoadError {
    pub file: PathBuf,
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadError {
    /// A problem with the file as a whole (unreadable, duplicate across files), shown at 1:1
    /// unless a position is known.
    pub(crate) fn at(
        file: &Path,
        line: usize,
        col: usize,
        message: String,
        hint: Option<String>,
    ) -> Self {
        LoadError {
            file: file.to_path_buf(),
            diagnostics: vec![Diagnostic {
                file: file.to_path_buf(),
                line,
                col,
                message,
                hint,
            }],
        }
    }
}

fn render_all(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(Diagnostic::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Collects diagnostics for one file, turning byte spans into lines and columns.
pub(crate) struct Diags<'s> {
    file: PathBuf,
    src: &'s str,
    line_starts: Vec<usize>,
    out: Vec<Diagnostic>,
}

impl<'s> Diags<'s> {
    pub(crate) fn new(file: &Path, src: &'s str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Diags {
            file: file.to_path_buf(),
            src,
            line_starts,
            out: Vec::new(),
        }
    }

    pub(crate) fn src(&self) -> &'s str {
        self.src
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let start = self.line_starts[line];
        let col = self
            .src
            .get(start..offset)
            .map_or(offset - start, |prefix| prefix.chars().count());
        (line + 1, col + 1)
    }

    pub(crate) fn line_of(&self, offset: usize) -> usize {
        self.position(offset).0
    }

    pub(crate) fn error(&mut self, span: Span, message: impl Into<String>, hint: Option<String>) {
        let (line, col) = self.position(span.start);
        self.out.push(Diagnostic {
            file: self.file.clone(),
            line,
            col,
            message: message.into(),
            hint,
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Diagnostics in file order; tables are read in key order, not file order.
    pub(crate) fn into_error(mut self) -> LoadError {
        self.out.sort_by_key(|d| (d.line, d.col));
        // An inherited default (a bad backend in [defaults]) is reported once, not per task.
        self.out.dedup();
        LoadError {
            file: self.file,
            diagnostics: self.out,
        }
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely
/// typo, or one starting the same way (`retry` for `retries`).
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let len = word.chars().count();
    let limit = if len >= 5 { (len / 3).max(2) } else { 1 };
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|&(d, c)| d <= limit || shared_prefix(word, c) >= 4)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// "did you mean ...?" when a candidate is close, otherwise the full list.
pub(crate) fn suggest(word: &str, candidates: &[&str], what: &str) -> String {
    match closest(word, candidates.iter().copied()) {
        Some(c) => format!("did you mean \"{c}\"?"),
        None if candidates.is_empty() => format!("there are no {what}"),
        None => {
            let mut unique: Vec<&str> = Vec::new();
            for c in candidates {
                if !unique.contains(c) {
                    unique.push(c);
                }
            }
            format!("{what}: {}", unique.join(", "))
        }
    }
}

fn shared_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let d = Diags::new(Path::new("x.toml"), "a = 1\nbé = \"x\"\n");
        assert_eq!(d.position(0), (1, 1));
        assert_eq!(d.position(6), (2, 1));
        // "bé = " is 6 bytes but 5 characters.
        assert_eq!(d.position(12), (2, 6));
    }

    #[test]
    fn suggests_a_close_candidate_only() {
        assert_eq!(closest("extarct", ["extract", "load"]), Some("extract"));
        assert_eq!(closest("zzz", ["extract", "load"]), None);
        assert_eq!(
            closest("retry", ["retry_delay", "retries", "timeout"]),
            Some("retries")
        );
    }
}
