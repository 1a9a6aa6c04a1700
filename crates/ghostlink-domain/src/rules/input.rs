//! Redirect rules as the API receives them, and their validation into [`Rule`]s.
//!
//! The input keeps every value as text, so that a wrong one is reported by [`validate_rules`]
//! with its rule, condition and field (`rules[1].conditions[0].is: unknown device 'phone'
//! (expected …)`) rather than as a bare deserialisation error. The JSON shape is the one a
//! [`Rule`] serialises to:
//! `{"conditions":[{"type":"device","is":["mobile"]},{"type":"country","is":["DE","AT"]}],"url":"https://…"}`.

use chrono::{DateTime, Utc};

use super::error::{shown, RuleField, RuleProblem, RulesError};
use super::{
    Condition, Rule, MAX_CONDITIONS, MAX_PARAM_NAME_BYTES, MAX_PARAM_VALUE_BYTES, MAX_RULES, MAX_VALUES,
};
use crate::named::Named;
use crate::url_rules::normalize_url;

/// A rule as sent to the API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub conditions: Vec<ConditionInput>,
    pub url: String,
}

/// A condition as sent to the API; see [`Condition`] for what each means.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ConditionInput {
    Device {
        is: Vec<String>,
    },
    Os {
        is: Vec<String>,
    },
    Language {
        is: Vec<String>,
    },
    Country {
        is: Vec<String>,
    },
    Query {
        name: String,
        #[serde(default)]
        value: Option<String>,
    },
    /// RFC 3339 instants, any offset (stored in UTC).
    Time {
        #[serde(default)]
        start: Option<String>,
        #[serde(default)]
        end: Option<String>,
    },
}

/// Validates a link's rules, in order; the first problem found is the error.
pub fn validate_rules(rules: &[RuleInput]) -> Result<Vec<Rule>, RulesError> {
    if rules.len() > MAX_RULES {
        return Err(RulesError::TooManyRules { got: rules.len() });
    }
    rules.iter().enumerate().map(|(i, r)| r.validate(i)).collect()
}

impl RuleInput {
    /// Validates this rule, the `index`-th of its link (for the error's path): limits, value
    /// shapes, and the destination through [`normalize_url`] (stored normalised).
    pub fn validate(&self, index: usize) -> Result<Rule, RulesError> {
        let fail = |field, problem| RulesError::Invalid { rule: index, field, problem };
        if self.conditions.is_empty() {
            return Err(fail(RuleField::Conditions, RuleProblem::NoConditions));
        }
        if self.conditions.len() > MAX_CONDITIONS {
            return Err(fail(
                RuleField::Conditions,
                RuleProblem::TooManyConditions { got: self.conditions.len() },
            ));
        }
        let conditions = self
            .conditions
            .iter()
            .enumerate()
            .map(|(i, c)| {
                c.validate()
                    .map_err(|(field, problem)| fail(RuleField::Condition { index: i, field }, problem))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let url = normalize_url(&self.url).map_err(|e| fail(RuleField::Url, e.into()))?;
        Ok(Rule { conditions, url })
    }
}

type FieldProblem = (&'static str, RuleProblem);

impl ConditionInput {
    fn validate(&self) -> Result<Condition, FieldProblem> {
        let is = |p: RuleProblem| ("is", p);
        Ok(match self {
            ConditionInput::Device { is: v } => Condition::Device { is: list(v, named).map_err(is)? },
            ConditionInput::Os { is: v } => Condition::Os { is: list(v, named).map_err(is)? },
            ConditionInput::Language { is: v } => {
                Condition::Language { is: list(v, |s| Ok(s.parse()?)).map_err(is)? }
            }
            ConditionInput::Country { is: v } => {
                Condition::Country { is: list(v, |s| Ok(s.parse()?)).map_err(is)? }
            }
            ConditionInput::Query { name, value } => {
                if name.is_empty() || name.len() > MAX_PARAM_NAME_BYTES {
                    return Err(("name", RuleProblem::NameLength));
                }
                if has_control(name) {
                    return Err(("name", RuleProblem::ControlCharacters));
                }
                if let Some(v) = value {
                    if v.len() > MAX_PARAM_VALUE_BYTES {
                        return Err(("value", RuleProblem::ValueTooLong));
                    }
                    if has_control(v) {
                        return Err(("value", RuleProblem::ControlCharacters));
                    }
                }
                Condition::Query { name: name.clone(), value: value.clone() }
            }
            ConditionInput::Time { start, end } => {
                let start = start.as_deref().map(instant).transpose().map_err(|p| ("start", p))?;
                let end = end.as_deref().map(instant).transpose().map_err(|p| ("end", p))?;
                match (start, end) {
                    (None, None) => return Err(("start", RuleProblem::OpenWindow)),
                    (Some(s), Some(e)) if s >= e => return Err(("end", RuleProblem::StartNotBeforeEnd)),
                    _ => {}
                }
                Condition::Time { start, end }
            }
        })
    }
}

/// A non-empty, bounded list of parsed values, duplicates dropped (first kept).
fn list<T: PartialEq>(
    values: &[String],
    parse: impl Fn(&str) -> Result<T, RuleProblem>,
) -> Result<Vec<T>, RuleProblem> {
    if values.is_empty() {
        return Err(RuleProblem::EmptyList);
    }
    if values.len() > MAX_VALUES {
        return Err(RuleProblem::TooManyValues { got: values.len() });
    }
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        let parsed = parse(v)?;
        if !out.contains(&parsed) {
            out.push(parsed);
        }
    }
    Ok(out)
}

/// A [`Named`] value; the message quotes a bounded part of what was sent.
fn named<T: Named>(s: &str) -> Result<T, RuleProblem> {
    s.parse::<T>().map_err(|mut e| {
        e.value = shown(&e.value);
        RuleProblem::Unknown(e)
    })
}

fn instant(s: &str) -> Result<DateTime<Utc>, RuleProblem> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| RuleProblem::Instant(s.to_owned()))
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str) -> Result<Vec<Rule>, String> {
        let input: Vec<RuleInput> = serde_json::from_str(json).map_err(|e| format!("json: {e}"))?;
        validate_rules(&input).map_err(|e| e.to_string())
    }

    fn one(conditions: &str) -> String {
        format!(
            r#"[{{"conditions":[{{"type":"query","name":"x"}}],"url":"https://a.example/"}},{{"conditions":{conditions},"url":"https://b.example/"}}]"#
        )
    }

    #[test]
    fn errors_name_the_rule_and_field() {
        let table: &[(&str, &str)] = &[
            (r#"[{"type":"device","is":["mobile","phone"]}]"#, "rules[1].conditions[0].is: unknown device 'phone' (expected desktop, mobile, tablet, console, bot, other)"),
            (r#"[{"type":"os","is":["ios"]},{"type":"os","is":["beos"]}]"#, "rules[1].conditions[1].is: unknown os 'beos' (expected android, ios, windows, macos, linux, chromeos, other)"),
            (r#"[{"type":"device","is":[]}]"#, "rules[1].conditions[0].is: must list at least one value"),
            (r#"[]"#, "rules[1].conditions: a rule needs at least one condition"),
            (r#"[{"type":"language","is":["de_DE"]}]"#, "rules[1].conditions[0].is: 'de_DE' is not a well-formed language tag (like de, pt-BR)"),
            (r#"[{"type":"country","is":["DEU"]}]"#, "rules[1].conditions[0].is: 'DEU' is not an ISO 3166-1 alpha-2 country code (like DE, US)"),
            (r#"[{"type":"query","name":""}]"#, "rules[1].conditions[0].name: a query parameter name must be 1 to 64 bytes"),
            (r#"[{"type":"query","name":"a\u0000"}]"#, "rules[1].conditions[0].name: must not contain control characters"),
            (r#"[{"type":"query","name":"a","value":"\r\n"}]"#, "rules[1].conditions[0].value: must not contain control characters"),
            (r#"[{"type":"time"}]"#, "rules[1].conditions[0].start: a time window needs a start, an end or both"),
            (r#"[{"type":"time","start":"2025-02-01T00:00:00Z","end":"2025-02-01T00:00:00Z"}]"#, "rules[1].conditions[0].end: start must be before end"),
            (r#"[{"type":"time","start":"tomorrow"}]"#, "rules[1].conditions[0].start: 'tomorrow' is not an RFC 3339 instant (like 2025-06-01T00:00:00Z)"),
        ];
        for (conditions, want) in table {
            assert_eq!(check(&one(conditions)).as_ref().map(|_| ()), Err(&want.to_string()), "{conditions}");
        }
    }

    #[test]
    fn limits() {
        let long_name = format!(r#"[{{"type":"query","name":"{}"}}]"#, "n".repeat(65));
        assert!(check(&one(&long_name)).is_err_and(|e| e.contains("1 to 64 bytes")));
        let ok_name =
            format!(r#"[{{"type":"query","name":"{}","value":"{}"}}]"#, "n".repeat(64), "v".repeat(256));
        assert!(check(&one(&ok_name)).is_ok());
        let long_value = format!(r#"[{{"type":"query","name":"n","value":"{}"}}]"#, "v".repeat(257));
        assert!(check(&one(&long_value)).is_err_and(|e| e.ends_with("value: must be at most 256 bytes")));
        let cond = r#"{"type":"query","name":"x"}"#;
        let ten = format!("[{}]", [cond; 10].join(","));
        assert!(check(&one(&ten)).is_ok());
        let eleven = format!("[{}]", [cond; 11].join(","));
        assert_eq!(
            check(&one(&eleven)).map(|_| ()),
            Err("rules[1].conditions: at most 10 conditions, got 11".into())
        );
        let values = format!(r#"[{{"type":"country","is":[{}]}}]"#, vec![r#""DE""#; 65].join(","));
        assert!(check(&one(&values)).is_err_and(|e| e.ends_with("at most 64 values, got 65")));
        let rule = r#"{"conditions":[{"type":"query","name":"x"}],"url":"https://a.example/"}"#;
        assert!(check(&format!("[{}]", vec![rule; 20].join(","))).is_ok());
        let input: Vec<RuleInput> =
            serde_json::from_str(&format!("[{}]", vec![rule; 21].join(","))).expect("json");
        let err = validate_rules(&input).expect_err("21 rules");
        assert_eq!(
            (err.code(), err.to_string().as_str()),
            ("rules_too_many", "rules: at most 20 rules, got 21")
        );
    }

    #[test]
    fn values_are_normalised_and_deduplicated() {
        let got = check(
            r#"[{"conditions":[{"type":"country","is":["de","DE","at"]},{"type":"language","is":["EN-gb","en-GB"]},{"type":"device","is":["bot","bot"]}],"url":"HTTPS://Example.COM"}]"#,
        )
        .expect("valid");
        assert_eq!(got[0].url, "https://example.com/");
        let countries = ["DE", "AT"].map(|c| c.parse().expect("code"));
        assert_eq!(got[0].conditions[0], Condition::Country { is: countries.to_vec() });
        assert_eq!(got[0].conditions[1], Condition::Language { is: vec!["en-GB".parse().expect("tag")] });
        assert_eq!(got[0].conditions[2], Condition::Device { is: vec![crate::rules::DeviceType::Bot] });
    }

    #[test]
    fn destinations_go_through_normalize_url() {
        let bad = r#"[{"conditions":[{"type":"query","name":"x"}],"url":"javascript:alert(1)"}]"#;
        let input: Vec<RuleInput> = serde_json::from_str(bad).expect("json");
        let err = validate_rules(&input).expect_err("javascript");
        assert_eq!(
            err.to_string(),
            "rules[0].url: url scheme 'javascript' is not allowed; only http and https are"
        );
        assert_eq!(err.code(), "url_scheme");
    }

    #[test]
    fn unknown_shapes_are_refused_by_serde() {
        for bad in [
            r#"[{"conditions":[{"type":"browser","is":["chrome"]}],"url":"https://a.example/"}]"#,
            r#"[{"conditions":[{"type":"device","is":["mobile"],"not":true}],"url":"https://a.example/"}]"#,
            r#"[{"conditions":[{"type":"device","is":["mobile"]}],"url":"https://a.example/","weight":1}]"#,
            r#"[{"conditions":[{"is":["mobile"]}],"url":"https://a.example/"}]"#,
            r#"[{"conditions":[{"type":"device","is":"mobile"}],"url":"https://a.example/"}]"#,
        ] {
            assert!(check(bad).is_err_and(|e| e.starts_with("json: ")), "{bad}");
        }
    }

    #[test]
    fn hostile_values_are_quoted_briefly() {
        let device = format!(r#"[{{"type":"device","is":["{}"]}}]"#, "x".repeat(100_000));
        let err = check(&one(&device)).expect_err("huge name");
        assert!(err.len() < 300, "{} bytes", err.len());
        let country = format!(r#"[{{"type":"country","is":["{}"]}}]"#, "\\u001b[31m".repeat(1000));
        let err = check(&one(&country)).expect_err("escape codes");
        assert!(!err.contains('\u{1b}'), "control characters are escaped in messages: {err:?}");
    }
}
