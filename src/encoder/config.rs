//! The output of the encoder tables: which properties to set on the chosen element, and what could not
//! be honoured.

use super::schema::{PropKind, PropertySchema};

/// A value for one encoder property.
#[derive(Debug, Clone, PartialEq)]
pub enum PropValue {
    Bool(bool),
    UInt(u64),
    Int(i64),
    Double(f64),
    /// An enum value or a `+`-separated set of flags, by nick.
    Nick(String),
    Str(String),
}

/// How to configure one encoder element.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EncoderConfig {
    /// Properties to set, in order.
    pub props: Vec<(String, PropValue)>,
    /// Settings the encoder cannot honour, each naming the encoder and the setting.
    pub warnings: Vec<String>,
    /// The raw format fed to the encoder (`NV12`, `I420`).
    pub input_format: &'static str,
}

impl EncoderConfig {
    pub fn get(&self, name: &str) -> Option<&PropValue> {
        self.props.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// Builds an [`EncoderConfig`] against a schema: every setter checks that the property exists and that
/// the value fits, so the result only ever uses what the element really has.
pub struct ConfigBuilder<'a> {
    schema: &'a dyn PropertySchema,
    config: EncoderConfig,
}

impl<'a> ConfigBuilder<'a> {
    pub fn new(schema: &'a dyn PropertySchema, input_format: &'static str) -> Self {
        ConfigBuilder {
            schema,
            config: EncoderConfig {
                input_format,
                ..Default::default()
            },
        }
    }

    pub fn schema(&self) -> &dyn PropertySchema {
        self.schema
    }

    pub fn element(&self) -> &str {
        self.schema.element_name()
    }

    pub fn warn(&mut self, msg: impl Into<String>) {
        self.config.warnings.push(msg.into());
    }

    /// The first of `names` that the element has.
    pub fn first_existing(&self, names: &[&'static str]) -> Option<&'static str> {
        names.iter().copied().find(|n| self.schema.has(n))
    }

    fn push(&mut self, name: &str, value: PropValue) {
        self.config.props.retain(|(n, _)| n != name);
        self.config.props.push((name.to_string(), value));
    }

    /// Sets an integer property (signed or unsigned), clamped to its range with a warning naming
    /// `setting` when it does not fit. Returns false when the property does not exist.
    pub fn set_number(&mut self, name: &str, value: i64, setting: &str) -> bool {
        let Some(kind) = self.schema.property(name) else {
            return false;
        };
        let (clamped, pv) = match kind {
            PropKind::UInt { min, max } => {
                let v = value.max(0) as u64;
                let c = v.clamp(min, max);
                (c as i64 != value, PropValue::UInt(c))
            }
            PropKind::Int { min, max } => {
                let c = value.clamp(min, max);
                (c != value, PropValue::Int(c))
            }
            PropKind::Double { min, max } => {
                let c = (value as f64).clamp(min, max);
                (c != value as f64, PropValue::Double(c))
            }
            _ => return false,
        };
        if clamped {
            let shown = match &pv {
                PropValue::UInt(v) => v.to_string(),
                PropValue::Int(v) => v.to_string(),
                PropValue::Double(v) => v.to_string(),
                _ => String::new(),
            };
            let element = self.element().to_string();
            self.warn(format!(
                "{setting}: {element} takes {name} only up to its range; using {shown} instead of {value}"
            ));
        }
        self.push(name, pv);
        true
    }

    pub fn set_bool(&mut self, name: &str, value: bool) -> bool {
        if matches!(self.schema.property(name), Some(PropKind::Bool)) {
            self.push(name, PropValue::Bool(value));
            true
        } else {
            false
        }
    }

    /// Sets the enum or flags property `name` to the first of `nicks` that it has.
    pub fn set_nick(&mut self, name: &str, nicks: &[&str]) -> Option<String> {
        let kind = self.schema.property(name)?;
        let nick = nicks.iter().find(|n| kind.has_nick(n))?;
        self.push(name, PropValue::Nick(nick.to_string()));
        Some(nick.to_string())
    }

    pub fn set_string(&mut self, name: &str, value: &str) -> bool {
        if matches!(self.schema.property(name), Some(PropKind::String)) {
            self.push(name, PropValue::Str(value.to_string()));
            true
        } else {
            false
        }
    }

    pub fn finish(self) -> EncoderConfig {
        self.config
    }
}
