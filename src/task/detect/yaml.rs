//! The `names` key of a YOLO data YAML, read by hand: the only YAML `sweep` needs, so no
//! YAML crate.

/// The `names` key of a YOLO data YAML: a flow list `[a, b]`, a flow map `{0: a}`, or a
/// block of `- a` or `0: a` lines (the only YAML this reader understands).
pub fn names(text: &str) -> Result<Vec<String>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| l.starts_with("names:")) else {
        return Err("no top-level `names:` key".into());
    };
    let line_no = |k: usize| k + 1;
    let inline = uncomment(&lines[start]["names:".len()..]).trim();
    let mut entries: Vec<(Option<usize>, String, usize)> = Vec::new();
    if !inline.is_empty() {
        let body = inline
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .or_else(|| inline.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .ok_or_else(|| {
                format!(
                    "line {}: `names:` must be followed by [a, b], {{0: a}} or an indented list",
                    line_no(start)
                )
            })?;
        let mapping = inline.starts_with('{');
        for item in body.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            entries.push(entry(item, mapping, line_no(start))?);
        }
    } else {
        for (k, raw) in lines.iter().enumerate().skip(start + 1) {
            let line = uncomment(raw);
            if line.trim().is_empty() {
                continue;
            }
            // The block ends at the next top-level key.
            if !line.starts_with([' ', '\t', '-']) {
                break;
            }
            let item = line.trim();
            match item.strip_prefix('-') {
                Some(name) => entries.push((None, unquote(name.trim()), line_no(k))),
                None => entries.push(entry(item, true, line_no(k))?),
            }
        }
    }
    if entries.is_empty() {
        return Err(format!("line {}: `names` lists no classes", line_no(start)));
    }
    let keyed = entries.iter().filter(|e| e.0.is_some()).count();
    if keyed == 0 {
        return Ok(entries.into_iter().map(|e| e.1).collect());
    }
    if keyed != entries.len() {
        return Err("`names` mixes `- name` and `index: name` entries".into());
    }
    let mut names = vec![None; entries.len()];
    for (index, name, line) in entries {
        let index = index.expect("all keyed");
        match names.get_mut(index) {
            Some(slot @ None) => *slot = Some(name),
            Some(Some(_)) => return Err(format!("line {line}: index {index} is given twice")),
            None => {
                return Err(format!(
                    "line {line}: index {index} but only {} names; indices must run 0..K-1",
                    names.len()
                ));
            }
        }
    }
    Ok(names
        .into_iter()
        .map(|n| n.expect("every index seen"))
        .collect())
}

/// One `name` or `index: name` entry of `names`.
fn entry(item: &str, mapping: bool, line: usize) -> Result<(Option<usize>, String, usize), String> {
    if !mapping {
        return Ok((None, unquote(item), line));
    }
    let (key, name) = item
        .split_once(':')
        .ok_or_else(|| format!("line {line}: `{item}` is not `index: name`"))?;
    let key = key
        .trim()
        .parse()
        .map_err(|_| format!("line {line}: `{}` is not a class index", key.trim()))?;
    Ok((Some(key), unquote(name.trim()), line))
}

/// A line without its `#` comment (a `#` inside quotes is kept).
fn uncomment(line: &str) -> &str {
    let mut quote = None;
    for (k, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') if k == 0 || line[..k].ends_with([' ', '\t']) => return &line[..k],
            _ => {}
        }
    }
    line
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|t| t.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    s.to_string()
}
