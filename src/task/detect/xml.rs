//! A small XML reader for annotation files (Pascal VOC): elements, text and entities.
//!
//! Enough for data files written by labelling tools: declarations, comments, DOCTYPE and
//! CDATA are understood, attributes are skipped, namespaces are not interpreted.

/// One element: its name, its text (all text directly inside it, entities decoded) and its
/// child elements in document order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    /// Tag name.
    pub name: String,
    /// Text directly inside the element (not its children's), untrimmed.
    pub text: String,
    /// Child elements.
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of the first child named `name`.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }
}

/// Parses a document into its root element; the error says what is wrong and on which line.
pub fn parse(doc: &str) -> Result<Element, String> {
    let b = doc.as_bytes();
    let line = |at: usize| doc[..at].matches('\n').count() + 1;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            let end = doc[i..].find('<').map_or(b.len(), |k| i + k);
            let text = &doc[i..end];
            match stack.last_mut() {
                Some(top) => top
                    .text
                    .push_str(&decode(text).map_err(|e| format!("line {}: {e}", line(i)))?),
                None if text.trim().is_empty() => {}
                None => return Err(format!("line {}: text outside the root element", line(i))),
            }
            i = end;
            continue;
        }
        let rest = &doc[i..];
        let skip = |open: &str, close: &str| -> Result<Option<usize>, String> {
            if !rest.starts_with(open) {
                return Ok(None);
            }
            match rest[open.len()..].find(close) {
                Some(k) => Ok(Some(i + open.len() + k + close.len())),
                None => Err(format!("line {}: `{open}` is never closed", line(i))),
            }
        };
        if let Some(end) = skip("<!--", "-->")? {
            i = end;
        } else if let Some(end) = skip("<?", "?>")? {
            i = end;
        } else if let Some(end) = skip("<![CDATA[", "]]>")? {
            if let Some(top) = stack.last_mut() {
                top.text.push_str(&doc[i + 9..end - 3]);
            }
            i = end;
        } else if let Some(end) = skip("<!", ">")? {
            i = end;
        } else {
            let end = tag_end(b, i).ok_or_else(|| format!("line {}: unclosed tag", line(i)))?;
            let inner = &doc[i + 1..end];
            if let Some(name) = inner.strip_prefix('/') {
                let name = name.trim();
                let Some(done) = stack.pop() else {
                    return Err(format!("line {}: `</{name}>` closes nothing", line(i)));
                };
                if done.name != name {
                    return Err(format!(
                        "line {}: `</{name}>` closes `<{}>`",
                        line(i),
                        done.name
                    ));
                }
                attach(&mut stack, &mut root, done, line(i))?;
            } else {
                let self_closing = inner.ends_with('/');
                let inner = inner.trim_end_matches('/');
                let name: String = inner.chars().take_while(|c| !c.is_whitespace()).collect();
                if name.is_empty() {
                    return Err(format!("line {}: a tag without a name", line(i)));
                }
                let el = Element {
                    name,
                    ..Element::default()
                };
                if self_closing {
                    attach(&mut stack, &mut root, el, line(i))?;
                } else {
                    stack.push(el);
                }
            }
            i = end + 1;
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("`<{}>` is never closed", open.name));
    }
    root.ok_or_else(|| "no root element".to_string())
}

/// Puts a finished element into its parent, or makes it the root.
fn attach(
    stack: &mut [Element],
    root: &mut Option<Element>,
    el: Element,
    line: usize,
) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None if root.is_none() => *root = Some(el),
        None => {
            return Err(format!(
                "line {line}: a second root element `<{}>`",
                el.name
            ));
        }
    }
    Ok(())
}

/// Index of the `>` that ends the tag starting at `start`, skipping quoted attribute values.
fn tag_end(b: &[u8], start: usize) -> Option<usize> {
    let mut quote = None;
    for (k, &c) in b.iter().enumerate().skip(start + 1) {
        match (quote, c) {
            (None, b'"' | b'\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, b'>') => return Some(k),
            _ => {}
        }
    }
    None
}

/// Text with its entity and character references replaced.
fn decode(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(k) = rest.find('&') {
        out.push_str(&rest[..k]);
        let after = &rest[k + 1..];
        let end = after
            .find(';')
            .ok_or_else(|| format!("`&` without `;` in {:?}", truncate(text)))?;
        let name = &after[..end];
        let ch = match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = name.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = name.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown entity `&{name};`"))?
            }
        };
        out.push(ch);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}
