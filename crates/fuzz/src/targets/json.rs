//! Editing one node of a JSON body, shared by the targets whose input is JSON (`http`'s request
//! bodies, `provlog`'s EPCIS events): every node's path, the node at a path, removing it, and
//! editing a string a few characters at a time (rule texts, decimals, dates, URIs).

use serde_json::Value;

use crate::prng::Prng;

/// One step of a path into a JSON value.
#[derive(Clone, Debug)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Paths to every node of `value` (the root first), as object keys and array indexes.
#[must_use]
pub fn paths(value: &Value) -> Vec<Vec<Step>> {
    let mut out = Vec::new();
    nodes(value, &mut Vec::new(), &mut out);
    out
}

fn nodes(value: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(path.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                path.push(Step::Key(key.clone()));
                nodes(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                path.push(Step::Index(index));
                nodes(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// The node at `path`, if there is one.
pub fn node_at<'a>(value: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    let mut current = value;
    for step in path {
        current = match (step, current) {
            (Step::Key(key), Value::Object(map)) => map.get_mut(key)?,
            (Step::Index(index), Value::Array(items)) => items.get_mut(*index)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Removes the node at `path` from its parent (the root stays).
pub fn remove_at(value: &mut Value, path: &[Step]) {
    if let Some((last, parent)) = path.split_last()
        && let Some(parent) = node_at(value, parent)
    {
        match (last, parent) {
            (Step::Key(key), Value::Object(map)) => {
                map.remove(key);
            }
            (Step::Index(index), Value::Array(items)) => {
                items.remove(*index);
            }
            _ => {}
        }
    }
}

/// Edits a string a little: inserts one of `tokens` (or a random character) at a character
/// boundary, deletes or duplicates a few characters, or cuts it. Parsers of small languages
/// (campaign rules, decimals, dates, URIs) meet their edge cases one token away from a valid
/// text far more often than one random byte away.
pub fn edit_text(prng: &mut Prng, text: &mut String, tokens: &[&str]) {
    let boundaries: Vec<usize> = text
        .char_indices()
        .map(|(at, _)| at)
        .chain([text.len()])
        .collect();
    let at = *prng.pick(&boundaries);
    match prng.below(6) {
        0..=2 => {
            let token = if tokens.is_empty() || prng.one_in(4) {
                char::from(0x20 + prng.byte() % 0x5F).to_string()
            } else {
                (*prng.pick(tokens)).to_string()
            };
            text.insert_str(at, &token);
        }
        3 => {
            let end = boundaries
                .iter()
                .copied()
                .filter(|&b| b > at)
                .nth(prng.below(4))
                .unwrap_or(text.len());
            text.replace_range(at..end, "");
        }
        4 => {
            let end = boundaries
                .iter()
                .copied()
                .filter(|&b| b > at)
                .nth(prng.below(8))
                .unwrap_or(text.len());
            let chunk = text[at..end].to_string();
            text.insert_str(end, &chunk);
        }
        _ => text.truncate(at),
    }
}
