//! Why a link's redirect rules were refused, naming the rule and the field so an API can
//! answer `422 rules[1].conditions[0].is: unknown device 'phone' (expected desktop, …)`.

use std::fmt;

use super::country::BadCountry;
use super::language::BadLanguage;
use crate::named::UnknownName;
use crate::url_rules::UrlError;

/// Refused redirect rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("rules: at most {max} rules, got {got}", max = super::MAX_RULES)]
    TooManyRules { got: usize },
    #[error("rules[{rule}].{field}: {problem}")]
    Invalid { rule: usize, field: RuleField, problem: RuleProblem },
}

impl RulesError {
    /// Stable machine-readable code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            RulesError::TooManyRules { .. } => "rules_too_many",
            RulesError::Invalid { problem, .. } => problem.code(),
        }
    }
}

/// Which part of a rule is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleField {
    Conditions,
    /// A field of one condition: `is`, `name`, `value`, `start`, `end`.
    Condition {
        index: usize,
        field: &'static str,
    },
    Url,
}

impl fmt::Display for RuleField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleField::Conditions => f.write_str("conditions"),
            RuleField::Condition { index, field } => write!(f, "conditions[{index}].{field}"),
            RuleField::Url => f.write_str("url"),
        }
    }
}

/// What is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleProblem {
    #[error("a rule needs at least one condition")]
    NoConditions,
    #[error("at most {max} conditions, got {got}", max = super::MAX_CONDITIONS)]
    TooManyConditions { got: usize },
    #[error("must list at least one value")]
    EmptyList,
    #[error("at most {max} values, got {got}", max = super::MAX_VALUES)]
    TooManyValues { got: usize },
    #[error(transparent)]
    Unknown(#[from] UnknownName),
    #[error(transparent)]
    Language(#[from] BadLanguage),
    #[error(transparent)]
    Country(#[from] BadCountry),
    #[error("a query parameter name must be 1 to {max} bytes", max = super::MAX_PARAM_NAME_BYTES)]
    NameLength,
    #[error("must be at most {max} bytes", max = super::MAX_PARAM_VALUE_BYTES)]
    ValueTooLong,
    #[error("must not contain control characters")]
    ControlCharacters,
    #[error("'{}' is not an RFC 3339 instant (like 2025-06-01T00:00:00Z)", shown(.0))]
    Instant(String),
    #[error("a time window needs a start, an end or both")]
    OpenWindow,
    #[error("start must be before end")]
    StartNotBeforeEnd,
    #[error(transparent)]
    Url(#[from] UrlError),
}

impl RuleProblem {
    /// Stable machine-readable code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            RuleProblem::NoConditions => "rule_no_conditions",
            RuleProblem::TooManyConditions { .. } => "rule_too_many_conditions",
            RuleProblem::EmptyList => "rule_empty_list",
            RuleProblem::TooManyValues { .. } => "rule_too_many_values",
            RuleProblem::Unknown(_) => "rule_unknown_value",
            RuleProblem::Language(_) => "rule_language",
            RuleProblem::Country(_) => "rule_country",
            RuleProblem::NameLength => "rule_param_name",
            RuleProblem::ValueTooLong => "rule_param_value",
            RuleProblem::ControlCharacters => "rule_control_characters",
            RuleProblem::Instant(_) => "rule_instant",
            RuleProblem::OpenWindow => "rule_open_window",
            RuleProblem::StartNotBeforeEnd => "rule_window_order",
            RuleProblem::Url(e) => e.code(),
        }
    }
}

/// At most the first 64 characters of client text, for messages that quote it.
pub(crate) fn shown(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        None => s.escape_debug().to_string(),
        Some((end, _)) => format!("{}…", s[..end].escape_debug()),
    }
}
