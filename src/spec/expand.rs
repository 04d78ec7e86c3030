//! Grid expansion: every list-valued setting is an axis; the plan is their Cartesian product.
//!
//! Expansion works on toml's spanned document, so each grid point keeps the byte positions of
//! the values it was built from and a bad value is reported at its own line and column.

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{SpecError, backticked, suggest};
use super::schema::RunConfig;

/// Settings that label the experiment and so cannot vary across its runs.
const NOT_AXES: &[&str] = &[
    "experiment.name",
    "experiment.description",
    "experiment.device",
];

/// Settings whose value is itself a list (`milestones = [10, 20]`); a list of such lists is an axis.
const LIST_SETTINGS: &[&str] = &[
    "train.milestones",
    "target.classes",
    "source.classes",
    "model.head.hidden",
];

/// Tables whose lists are values, never axes (`[augment.sets] light = ["flip"]`).
const VALUE_TABLES: &[&str] = &["augment"];

/// Most grid points (before duplicates are removed) one file may expand into: every point is
/// built in memory, and far fewer runs than this already take days to train.
pub const MAX_POINTS: usize = 100_000;

/// One grid axis: the dotted key path and the spanned values it takes.
#[derive(Debug, Clone)]
pub struct Axis<'i> {
    /// Dotted key path (`target.labels_per_class`).
    pub path: Vec<String>,
    /// The listed values, in file order.
    pub values: Vec<Spanned<DeValue<'i>>>,
}

impl Axis<'_> {
    /// The path joined with dots.
    pub fn name(&self) -> String {
        self.path.join(".")
    }
}

/// One grid point: its config and the document it was deserialized from (for error spans).
pub struct Point<'i> {
    /// The deserialized settings.
    pub config: RunConfig,
    /// The document with every axis replaced by this point's value.
    pub table: DeTable<'i>,
}

/// Parses the file's text, finds the axes and deserializes every grid point.
pub fn expand<'i>(
    file: &Path,
    text: &'i str,
) -> Result<(Vec<Axis<'i>>, Vec<Point<'i>>), SpecError> {
    let root = DeTable::parse(text).map_err(|e| toml_error(file, text, None, &e))?;
    let root_span = root.span();
    let root = root.into_inner();

    let mut axes = Vec::new();
    find_axes(&root, &mut Vec::new(), &mut axes);
    for axis in &axes {
        if NOT_AXES.contains(&axis.name().as_str()) {
            let span = value_span(&root, &axis.path);
            return Err(SpecError::at(file, text, span, "cannot be a list")
                .field(axis.name())
                .help("write a single value; one experiment file is one experiment"));
        }
        if axis.values.is_empty() {
            let span = value_span(&root, &axis.path);
            return Err(SpecError::at(file, text, span, "empty list")
                .field(axis.name())
                .help(
                    "give at least one value, e.g. `[1]`, or write a single value without brackets",
                ));
        }
    }
    // Seeds vary fastest so that the replicates of one cell sit next to each other.
    axes.sort_by_key(|a| a.path == ["experiment", "seeds"]);

    // Checked: a few dozen short lists multiply past usize::MAX, and wrapped to 0 or to a
    // small number the plan would silently lose runs.
    let total = axes
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
        .filter(|n| *n <= MAX_POINTS);
    let Some(total) = total else {
        let sizes: Vec<String> = axes.iter().map(|a| a.values.len().to_string()).collect();
        return Err(SpecError::at(
            file,
            text,
            None,
            format!(
                "the grid has more than {MAX_POINTS} points ({} axes: {})",
                axes.len(),
                sizes.join(" x ")
            ),
        )
        .help("list fewer values, or split the experiment into several files"));
    };
    let mut points = Vec::with_capacity(total);
    for index in 0..total {
        let mut table = root.clone();
        let mut rest = index;
        for axis in axes.iter().rev() {
            let value = axis.values[rest % axis.values.len()].clone();
            rest /= axis.values.len();
            set(&mut table, &axis.path, value);
        }
        let de = toml::Deserializer::from(Spanned::new(root_span.clone(), table.clone()));
        let config =
            RunConfig::deserialize(de).map_err(|e| toml_error(file, text, Some(&table), &e))?;
        points.push(Point { config, table });
    }
    Ok((axes, points))
}

/// Byte span of the value at `path` in a document, if present.
pub fn value_span(table: &DeTable<'_>, path: &[String]) -> Option<Range<usize>> {
    let (first, rest) = path.split_first()?;
    let (_, value) = table.iter().find(|(k, _)| k.get_ref() == first)?;
    if rest.is_empty() {
        return Some(value.span());
    }
    match value.get_ref() {
        DeValue::Table(inner) => value_span(inner, rest),
        _ => None,
    }
}

fn find_axes<'i>(table: &DeTable<'i>, prefix: &mut Vec<String>, axes: &mut Vec<Axis<'i>>) {
    for (key, value) in table.iter() {
        prefix.push(key.get_ref().to_string());
        match value.get_ref() {
            DeValue::Table(_) if VALUE_TABLES.contains(&prefix.join(".").as_str()) => {}
            DeValue::Table(inner) => find_axes(inner, prefix, axes),
            // A list-typed setting is an axis only when written as a list of lists.
            DeValue::Array(items)
                if !LIST_SETTINGS.contains(&prefix.join(".").as_str())
                    || items
                        .iter()
                        .all(|v| matches!(v.get_ref(), DeValue::Array(_)))
                        && !items.is_empty() =>
            {
                axes.push(Axis {
                    path: prefix.clone(),
                    values: items.iter().cloned().collect(),
                })
            }
            _ => {}
        }
        prefix.pop();
    }
}

fn set<'i>(table: &mut DeTable<'i>, path: &[String], new: Spanned<DeValue<'i>>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    for (key, value) in table.iter_mut() {
        if key.get_ref() != first {
            continue;
        }
        if rest.is_empty() {
            *value = new;
        } else if let DeValue::Table(inner) = value.get_mut() {
            set(inner, rest, new);
        }
        return;
    }
}

/// Innermost key whose key or value span holds `offset`.
///
/// Tables are searched first: a `[table]` value's span covers only its header, not its keys.
fn path_at(table: &DeTable<'_>, offset: usize) -> Option<Vec<String>> {
    for (key, value) in table.iter() {
        if let DeValue::Table(inner) = value.get_ref()
            && let Some(rest) = path_at(inner, offset)
        {
            return Some(
                std::iter::once(key.get_ref().to_string())
                    .chain(rest)
                    .collect(),
            );
        }
        if key.span().contains(&offset) || value.span().contains(&offset) {
            return Some(vec![key.get_ref().to_string()]);
        }
    }
    None
}

/// Turns a toml/serde error into a `SpecError`, naming the field and suggesting near misses.
fn toml_error(
    file: &Path,
    text: &str,
    table: Option<&DeTable<'_>>,
    e: &toml::de::Error,
) -> SpecError {
    let span = e.span();
    let message = e.message().trim().to_string();
    let mut err = SpecError::at(file, text, span.clone(), message.clone());
    if let (Some(table), Some(span)) = (table, &span)
        && let Some(path) = path_at(table, span.start)
    {
        err = err.field(path.join("."));
    }
    let words = backticked(&message);
    if (message.starts_with("unknown field") || message.starts_with("unknown variant"))
        && let Some((name, candidates)) = words.split_first()
    {
        err = match suggest(name, candidates.iter().copied()) {
            Some(best) => err.help(format!("did you mean `{best}`?")),
            None => err.help(format!("expected one of: {}", candidates.join(", "))),
        };
    } else if message.starts_with("missing field") {
        err = err.help("add it to the table named above (see the README's TOML reference)");
    }
    err
}
