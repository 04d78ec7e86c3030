//! Grid expansion: every list-valued setting is an axis; the plan is their Cartesian product.
//! A setting written as a distribution is searched instead (see [`super::search`]).
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
use super::search::{self, Dim, Method, Search};
use crate::search::Value;

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

/// A parsed experiment file: its grid axes, its searched settings and `[search]`.
pub struct Expansion<'i> {
    /// The grid axes, seeds last.
    pub axes: Vec<Axis<'i>>,
    /// The settings written as distributions, in file order.
    pub dims: Vec<Dim<'i>>,
    /// `[search]`, when present.
    pub search: Option<Search>,
    /// `[search]` as written, for the spans of errors about it.
    pub search_table: Option<DeTable<'i>>,
    /// Grid points (the product of the axes' lengths).
    pub total: usize,
    root: DeTable<'i>,
    root_span: Range<usize>,
}

/// Parses the file's text, finds the axes and deserializes every grid point (searched
/// settings take their low bound or first choice).
pub fn expand<'i>(
    file: &Path,
    text: &'i str,
) -> Result<(Vec<Axis<'i>>, Vec<Point<'i>>), SpecError> {
    let e = parse(file, text)?;
    let mut points = Vec::with_capacity(e.total);
    for index in 0..e.total {
        points.push(e.point(file, text, index, None)?);
    }
    Ok((e.axes, points))
}

/// Parses the file's text into its axes, searched settings and `[search]`.
pub fn parse<'i>(file: &Path, text: &'i str) -> Result<Expansion<'i>, SpecError> {
    let root = DeTable::parse(text).map_err(|e| toml_error(file, text, None, &e))?;
    let root_span = root.span();
    let mut root = root.into_inner();
    let (search, search_table) = match take_search(file, text, &mut root)? {
        Some((s, t)) => (Some(s), Some(t)),
        None => (None, None),
    };

    let mut axes = Vec::new();
    let mut dims = Vec::new();
    find_axes(file, text, &root, &mut Vec::new(), &mut axes, &mut dims)?;
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
    for dim in &dims {
        if NOT_AXES.contains(&dim.name().as_str()) || dim.path == ["experiment", "seeds"] {
            return Err(
                SpecError::at(file, text, Some(dim.span.clone()), "cannot be searched")
                    .field(dim.name())
                    .help("write a single value (seeds: a list, each trial trains once per seed)"),
            );
        }
    }
    let method = search.as_ref().map_or(Method::Grid, |s| s.method);
    if let (Some(dim), Method::Grid) = (dims.first(), method) {
        return Err(
            SpecError::at(file, text, Some(dim.span.clone()), "is a distribution, and the experiment is a grid")
                .field(dim.name())
                .help("add `[search]` with `method = \"tpe\"` (or \"random\") and `trials = N`, or write a list of values"),
        );
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
    Ok(Expansion {
        axes,
        dims,
        search,
        search_table,
        total,
        root,
        root_span,
    })
}

impl<'i> Expansion<'i> {
    /// Grid point `index`, its searched settings set to `values` (in `dims` order, made by
    /// [`Expansion::values`]) or, without them, to each distribution's low bound or first choice.
    pub fn point<'a>(
        &self,
        file: &Path,
        text: &str,
        index: usize,
        values: Option<&[Spanned<DeValue<'a>>]>,
    ) -> Result<Point<'a>, SpecError>
    where
        'i: 'a,
    {
        let mut table: DeTable<'a> = self.root.clone();
        for (axis, value) in self.point_values(index) {
            set(&mut table, &axis.path, value.clone());
        }
        for (k, dim) in self.dims.iter().enumerate() {
            let value = match values {
                Some(v) => v[k].clone(),
                None => dim.first.clone(),
            };
            set(&mut table, &dim.path, value);
        }
        let de = toml::Deserializer::from(Spanned::new(self.root_span.clone(), table.clone()));
        let config =
            RunConfig::deserialize(de).map_err(|e| toml_error(file, text, Some(&table), &e))?;
        Ok(Point { config, table })
    }

    /// Each axis with its value at grid point `index` (the last axis varies fastest).
    pub fn point_values(&self, index: usize) -> Vec<(&Axis<'i>, &Spanned<DeValue<'i>>)> {
        let mut rest = index;
        let mut out = Vec::with_capacity(self.axes.len());
        for axis in self.axes.iter().rev() {
            out.push((axis, &axis.values[rest % axis.values.len()]));
            rest /= axis.values.len();
        }
        out.reverse();
        out
    }

    /// The document values of sampled `values`, `texts` being [`Expansion::texts`]' for them.
    pub fn values<'a>(
        &self,
        values: &[Value],
        texts: &'a [Option<String>],
    ) -> Vec<Spanned<DeValue<'a>>>
    where
        'i: 'a,
    {
        self.dims
            .iter()
            .zip(values)
            .zip(texts)
            .map(|((d, v), t)| d.value(*v, t.as_deref()))
            .collect()
    }

    /// The TOML text of each sampled number of `values` (a choice has none).
    pub fn texts(&self, values: &[Value]) -> Vec<Option<String>> {
        self.dims
            .iter()
            .zip(values)
            .map(|(d, v)| d.text(*v))
            .collect()
    }
}

/// Removes `[search]` from the document (it is not a run's setting) and reads it.
fn take_search<'i>(
    file: &Path,
    text: &str,
    root: &mut DeTable<'i>,
) -> Result<Option<(Search, DeTable<'i>)>, SpecError> {
    let Some(key) = root
        .iter()
        .map(|(k, _)| k.clone())
        .find(|k| k.get_ref() == "search")
    else {
        return Ok(None);
    };
    let value = root.remove(&key).expect("just found");
    let span = value.span();
    let DeValue::Table(table) = value.into_inner() else {
        return Err(SpecError::at(file, text, Some(span), "is a table")
            .field("search")
            .help("write `[search]` with `method = \"tpe\"` and `trials = 40` under it"));
    };
    let de = toml::Deserializer::from(Spanned::new(span, table.clone()));
    let search = Search::deserialize(de).map_err(|e| {
        let err = toml_error(file, text, Some(&table), &e);
        let field = err
            .field
            .as_deref()
            .map_or("search".to_string(), |f| format!("search.{f}"));
        err.field(field)
    })?;
    Ok(Some((search, table)))
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

fn find_axes<'i>(
    file: &Path,
    text: &str,
    table: &DeTable<'i>,
    prefix: &mut Vec<String>,
    axes: &mut Vec<Axis<'i>>,
    dims: &mut Vec<Dim<'i>>,
) -> Result<(), SpecError> {
    for (key, value) in table.iter() {
        prefix.push(key.get_ref().to_string());
        match value.get_ref() {
            DeValue::Table(_) if VALUE_TABLES.contains(&prefix.join(".").as_str()) => {}
            DeValue::Table(inner) if search::is_distribution(inner) => {
                let d = search::dim(prefix.clone(), inner, value.span()).map_err(|b| {
                    SpecError::at(file, text, Some(b.span), b.message)
                        .field(prefix.join("."))
                        .help(b.help)
                })?;
                dims.push(d);
            }
            DeValue::Table(inner) => find_axes(file, text, inner, prefix, axes, dims)?,
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
    Ok(())
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
