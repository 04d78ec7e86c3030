//! `freeze_depth` as written: a number of backbone parts, or `"copied"` (what a depth means
//! for each part is in `crate::spec::depth`).

/// `freeze_depth = "copied"` before `normalize` resolves it to the run's transfer depth.
// A sentinel rather than an enum: a resolved depth serializes as the plain number it always
// was, so run ids of existing files do not change.
pub const FREEZE_COPIED: usize = usize::MAX;

/// Serde for `freeze_depth`: a number of parts, or `"copied"` ([`FREEZE_COPIED`]).
pub mod freeze {
    use serde::Serializer;
    use serde::de::{self, Deserializer, Visitor};

    use super::FREEZE_COPIED;

    /// Writes the number (or `"copied"` while still unresolved).
    pub fn serialize<S: Serializer>(n: &usize, s: S) -> Result<S::Ok, S::Error> {
        match *n {
            FREEZE_COPIED => s.serialize_str("copied"),
            n => s.serialize_u64(n as u64),
        }
    }

    /// Reads a number of parts or `"copied"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = usize;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number of backbone parts (0 = none), or \"copied\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<usize, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<usize, E> {
                usize::try_from(v)
                    .ok()
                    .filter(|&n| n != FREEZE_COPIED)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
                match v {
                    "copied" => Ok(FREEZE_COPIED),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}
