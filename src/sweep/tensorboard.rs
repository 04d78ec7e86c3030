//! TensorBoard event files for a run (`[experiment] tensorboard = true`): its learning curve as
//! scalars and its settings as hparams, so `tensorboard --logdir DIR/runs` shows every run.
//!
//! The format is TFRecord framing (length, masked CRC-32C, data, masked CRC-32C) around
//! `tensorflow.Event` protocol buffers; the few messages needed are encoded here by hand.

use crate::train::EpochLog;

/// Protocol-buffer field encoding, the parts an event needs.
mod pb {
    /// A varint.
    pub fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
        varint(out, (u64::from(field) << 3) | u64::from(wire));
    }

    /// A length-delimited field (string, bytes, message).
    pub fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
        key(out, field, 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }

    /// A `double` field.
    pub fn double(out: &mut Vec<u8>, field: u32, v: f64) {
        key(out, field, 1);
        out.extend_from_slice(&v.to_le_bytes());
    }

    /// A `float` field.
    pub fn float(out: &mut Vec<u8>, field: u32, v: f32) {
        key(out, field, 5);
        out.extend_from_slice(&v.to_le_bytes());
    }

    /// An `int64` field.
    pub fn int(out: &mut Vec<u8>, field: u32, v: i64) {
        key(out, field, 0);
        varint(out, v as u64);
    }
}

/// A value of the run's settings, as hparams shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum HParam {
    /// A number.
    Number(f64),
    /// Text.
    Text(String),
    /// A flag.
    Bool(bool),
}

fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c::crc32c(data);
    (c.rotate_right(15)).wrapping_add(0xa282_ead8)
}

fn record(out: &mut Vec<u8>, event: &[u8]) {
    let len = (event.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(event);
    out.extend_from_slice(&masked_crc(event).to_le_bytes());
}

/// `Event { wall_time, step, summary }` with one summary value.
fn event(wall_time: f64, step: i64, value: &[u8]) -> Vec<u8> {
    let mut summary = Vec::new();
    pb::bytes(&mut summary, 1, value);
    let mut e = Vec::new();
    pb::double(&mut e, 1, wall_time);
    pb::int(&mut e, 2, step);
    pb::bytes(&mut e, 5, &summary);
    e
}

fn scalar(tag: &str, v: f64) -> Vec<u8> {
    let mut value = Vec::new();
    pb::bytes(&mut value, 1, tag.as_bytes());
    pb::float(&mut value, 2, v as f32);
    value
}

/// The hparams plugin's session-start summary value (tag `_hparams_/session_start_info`).
fn hparams(settings: &[(String, HParam)]) -> Vec<u8> {
    let mut start = Vec::new();
    for (name, v) in settings {
        // google.protobuf.Value: number_value 2, string_value 3, bool_value 4.
        let mut value = Vec::new();
        match v {
            HParam::Number(x) => pb::double(&mut value, 2, *x),
            HParam::Text(t) => pb::bytes(&mut value, 3, t.as_bytes()),
            HParam::Bool(b) => pb::int(&mut value, 4, i64::from(*b)),
        }
        let mut entry = Vec::new();
        pb::bytes(&mut entry, 1, name.as_bytes());
        pb::bytes(&mut entry, 2, &value);
        pb::bytes(&mut start, 1, &entry);
    }
    // HParamsPluginData { version = 0, session_start_info = 3 }.
    let mut content = Vec::new();
    pb::bytes(&mut content, 3, &start);
    let mut plugin = Vec::new();
    pb::bytes(&mut plugin, 1, b"hparams");
    pb::bytes(&mut plugin, 2, &content);
    let mut metadata = Vec::new();
    pb::bytes(&mut metadata, 1, &plugin);
    let mut value = Vec::new();
    pb::bytes(&mut value, 1, b"_hparams_/session_start_info");
    pb::bytes(&mut value, 9, &metadata);
    // An empty tensor, as TensorBoard's own writer gives this value.
    let mut tensor = Vec::new();
    pb::int(&mut tensor, 1, 7); // DT_STRING
    pb::bytes(&mut value, 8, &tensor);
    value
}

/// The bytes of an event file: the version record, the settings as hparams, then per epoch
/// `train/loss`, the task's epoch scores `scores` (`val_ap50` tagged `val/ap50`; a classifier's
/// `train/accuracy`, `val/loss`, `val/accuracy`) and `lr`, at step = epoch.
pub fn events(
    epochs: &[EpochLog],
    scores: &[&str],
    settings: &[(String, HParam)],
    wall_time: f64,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut version = Vec::new();
    pb::double(&mut version, 1, wall_time);
    pb::bytes(&mut version, 3, b"brain.Event:2");
    record(&mut out, &version);
    record(&mut out, &event(wall_time, 0, &hparams(settings)));
    for e in epochs {
        let step = e.epoch as i64;
        let mut tagged = vec![("train/loss".to_string(), e.train_loss)];
        tagged.extend(scores.iter().map(|k| (k.replacen('_', "/", 1), e.score(k))));
        tagged.push(("lr".to_string(), e.lr));
        for (tag, v) in tagged {
            if v.is_finite() {
                record(&mut out, &event(wall_time, step, &scalar(&tag, v)));
            }
        }
    }
    out
}

/// A run's settings as hparams: every leaf of its config, dotted (`train.lr`).
pub fn settings(config: &crate::spec::RunConfig) -> Vec<(String, HParam)> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, HParam)>) {
        use serde_json::Value as V;
        match v {
            V::Object(m) => {
                for (k, v) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&p, v, out);
                }
            }
            V::Number(n) => out.push((prefix.into(), HParam::Number(n.as_f64().unwrap_or(0.0)))),
            V::Bool(b) => out.push((prefix.into(), HParam::Bool(*b))),
            V::String(s) => out.push((prefix.into(), HParam::Text(s.clone()))),
            V::Array(_) => out.push((prefix.into(), HParam::Text(v.to_string()))),
            V::Null => {}
        }
    }
    let mut out = Vec::new();
    walk(
        "",
        &serde_json::to_value(config).expect("config serializes"),
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_and_varints_match_known_values() {
        // CRC-32C of "123456789" is 0xE3069283 (RFC 3720).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        let mut v = Vec::new();
        pb::varint(&mut v, 300);
        assert_eq!(v, [0xAC, 0x02]);
    }
}
