//! `[model] head` and `pool`: the classifier head as written in the file (the layers are in
//! `crate::model::head`).

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// `[model] head`: `"linear"` or `{ kind = "mlp", hidden = [256], activation = "relu", dropout = 0.5 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Head {
    /// One linear layer from the pooled features to the classes.
    Linear,
    /// Hidden linear layers, each followed by the activation and (when > 0) dropout.
    Mlp {
        /// Width of each hidden layer, in order.
        hidden: Vec<usize>,
        /// Activation after each hidden layer.
        #[serde(default)]
        activation: Activation,
        /// Dropout probability after each hidden activation.
        #[serde(default)]
        dropout: f64,
    },
}

/// Activation of an MLP head's hidden layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// `nn.ReLU`.
    #[default]
    Relu,
    /// `nn.GELU`.
    Gelu,
    /// `nn.Tanh`.
    Tanh,
}

/// `[model] pool`: how the last feature map becomes the head's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pool {
    /// Global average pool: one value per channel.
    #[default]
    Avg,
    /// Every value of the map, channel-major (Keras' `Flatten`, PyTorch's `flatten(1)`).
    Flatten,
}

/// Deserializes a head from its kind's name or from a table.
pub fn deserialize_head<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Head>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Head>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("\"linear\" or a table such as { kind = \"mlp\", hidden = [256] }")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            let map = std::iter::once(("kind", s));
            Head::deserialize(de::value::MapDeserializer::new(map)).map(Some)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            Head::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
    d.deserialize_any(V)
}
