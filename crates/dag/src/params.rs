//! Declared run parameters and how a trigger's conf is checked against them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamKind {
    String,
    Integer,
    Number,
    Boolean,
    Array,
    Object,
}

impl ParamKind {
    pub const NAMES: [&'static str; 6] =
        ["string", "integer", "number", "boolean", "array", "object"];

    pub fn as_str(self) -> &'static str {
        match self {
            ParamKind::String => "string",
            ParamKind::Integer => "integer",
            ParamKind::Number => "number",
            ParamKind::Boolean => "boolean",
            ParamKind::Array => "array",
            ParamKind::Object => "object",
        }
    }

    /// The kind a bare default implies (`input = "x"` is a string param).
    pub fn of(value: &Value) -> Option<ParamKind> {
        Some(match value {
            Value::String(_) => ParamKind::String,
            Value::Number(n) if n.is_i64() || n.is_u64() => ParamKind::Integer,
            Value::Number(_) => ParamKind::Number,
            Value::Bool(_) => ParamKind::Boolean,
            Value::Array(_) => ParamKind::Array,
            Value::Object(_) => ParamKind::Object,
            Value::Null => return None,
        })
    }

    pub fn accepts(self, value: &Value) -> bool {
        match self {
            ParamKind::String => value.is_string(),
            ParamKind::Integer => value.is_i64() || value.is_u64(),
            ParamKind::Number => value.is_number(),
            ParamKind::Boolean => value.is_boolean(),
            ParamKind::Array => value.is_array(),
            ParamKind::Object => value.is_object(),
        }
    }
}

impl fmt::Display for ParamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ParamKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "string" => ParamKind::String,
            "integer" => ParamKind::Integer,
            "number" => ParamKind::Number,
            "boolean" => ParamKind::Boolean,
            "array" => ParamKind::Array,
            "object" => ParamKind::Object,
            _ => return Err(format!("unknown param type \"{s}\"")),
        })
    }
}

/// One declared param. A param without a default is required.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSpec {
    pub default: Option<Value>,
    /// Declared, or inferred from the default; `None` accepts any value.
    pub kind: Option<ParamKind>,
    pub description: Option<String>,
    pub required: bool,
    pub enum_values: Option<Vec<Value>>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
}

impl ParamSpec {
    /// Every reason `value` is not acceptable for this param.
    pub(crate) fn problems(&self, value: &Value) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(kind) = self.kind
            && !kind.accepts(value)
        {
            out.push(format!(
                "expected {} {kind}, found {}",
                article(kind.as_str()),
                describe(value)
            ));
            return out;
        }
        if let Some(allowed) = &self.enum_values
            && !allowed.contains(value)
        {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            out.push(format!(
                "{value} is not one of the allowed values [{}]",
                list.join(", ")
            ));
        }
        if let Some(n) = value.as_f64() {
            if let Some(min) = self.minimum
                && n < min
            {
                out.push(format!("{value} is less than the minimum {min}"));
            }
            if let Some(max) = self.maximum
                && n > max
            {
                out.push(format!("{value} is greater than the maximum {max}"));
            }
        }
        out
    }

    /// A value to render templates with at load time.
    pub(crate) fn sample(&self) -> Value {
        if let Some(default) = &self.default {
            return default.clone();
        }
        if let Some(first) = self.enum_values.as_ref().and_then(|e| e.first()) {
            return first.clone();
        }
        match self.kind {
            None | Some(ParamKind::String) => Value::from("sample"),
            Some(ParamKind::Integer) => Value::from(self.minimum.map_or(1, |m| m.ceil() as i64)),
            Some(ParamKind::Number) => Value::from(self.minimum.unwrap_or(1.0)),
            Some(ParamKind::Boolean) => Value::from(true),
            Some(ParamKind::Array) => Value::Array(Vec::new()),
            Some(ParamKind::Object) => Value::Object(serde_json::Map::new()),
        }
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::String(_) => format!("string {value}"),
        Value::Number(n) if n.is_i64() || n.is_u64() => format!("integer {value}"),
        Value::Number(_) => format!("number {value}"),
        Value::Bool(_) => format!("boolean {value}"),
        Value::Array(_) => "an array".to_string(),
        Value::Object(_) => "an object".to_string(),
        Value::Null => "null".to_string(),
    }
}

/// A trigger conf value that does not fit its param.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("param \"{field}\": {message}")]
pub struct ParamError {
    pub field: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(kind: ParamKind) -> ParamSpec {
        ParamSpec {
            default: None,
            kind: Some(kind),
            description: None,
            required: true,
            enum_values: None,
            minimum: None,
            maximum: None,
        }
    }

    #[test]
    fn integer_params_reject_fractions_but_number_params_take_both() {
        assert!(!spec(ParamKind::Integer).problems(&json!(1.5)).is_empty());
        assert!(spec(ParamKind::Integer).problems(&json!(2)).is_empty());
        assert!(spec(ParamKind::Number).problems(&json!(2)).is_empty());
    }

    #[test]
    fn reports_both_bounds_and_enum_in_one_go() {
        let s = ParamSpec {
            minimum: Some(1.0),
            enum_values: Some(vec![json!(5)]),
            ..spec(ParamKind::Integer)
        };
        let problems = s.problems(&json!(0));
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
