//! Errors in an experiment file, reported with file, line, column, field and a hint.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A problem found in an experiment file.
#[derive(Debug, Clone)]
pub struct SpecError {
    /// The experiment file.
    pub file: PathBuf,
    /// 1-based line and column, where known.
    pub position: Option<(usize, usize)>,
    /// Dotted key path of the offending setting (`train.lr`), where known.
    pub field: Option<Box<str>>,
    /// What is wrong.
    pub message: String,
    /// What to do about it (a near-miss name, the allowed range, ...).
    pub help: Option<String>,
    /// The source line the position points into, for display.
    snippet: Option<Box<(String, usize, usize)>>,
}

impl SpecError {
    /// An error at a byte span of `text` (the file's contents).
    pub fn at(
        file: &Path,
        text: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Self {
        let mut err = SpecError {
            file: file.to_path_buf(),
            position: None,
            field: None,
            message: message.into(),
            help: None,
            snippet: None,
        };
        if let Some(span) = span {
            let (line, col) = line_col(text, span.start);
            err.position = Some((line, col));
            let line_text = text.lines().nth(line - 1).unwrap_or("").to_string();
            let width = text[span.start..span.end.min(text.len())]
                .lines()
                .next()
                .map_or(1, |s| s.chars().count().max(1));
            err.snippet = Some(Box::new((line_text, col, width)));
        }
        err
    }

    /// Names the setting the error is about.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into().into_boxed_str());
        self
    }

    /// Adds advice on how to fix it.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "`{field}`: ")?;
        }
        write!(f, "{}", self.message)?;
        if let (Some(snippet), Some((line, _))) = (&self.snippet, self.position) {
            let (text, col, width) = snippet.as_ref();
            let gutter = " ".repeat(line.to_string().len());
            // Padding by repetition, not a `{:pad$}` width: widths past u16::MAX panic, and a
            // long line's column can be larger.
            write!(
                f,
                "\n {line} | {text}\n {gutter} | {}{}",
                " ".repeat(col - 1),
                "^".repeat(*width)
            )?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

/// The candidate closest to `name`, if it is close enough to be a likely typo.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Words written between backticks in a serde message (`unknown field `x`, expected one of ...`).
pub fn backticked(message: &str) -> Vec<&str> {
    message.split('`').skip(1).step_by(2).collect()
}
