//! Expectations: whether a measured value meets a check's `expect` (equals, between, at least,
//! at most), and every check type's expectation in words for the results (`= 105`,
//! `IDLE|RUNNING`, `<= 30 min old`, `COMPLETED within 5 s`).

use serde_json::Value;

use crate::manifest::kinds::{CheckExpectation, CheckSpec, CheckType};

/// A number without a needless `.0`.
pub fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

fn format_equals(value: &Value) -> String {
    match value {
        Value::Number(n) => n
            .as_f64()
            .map(format_number)
            .unwrap_or_else(|| n.to_string()),
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

/// An `expect` block in words; bounds joined with `and`.
pub fn describe_expectation(expect: &CheckExpectation) -> String {
    let mut parts = Vec::new();
    if let Some(equals) = &expect.equals {
        parts.push(format!("= {}", format_equals(equals)));
    }
    if let Some([low, high]) = expect.between {
        parts.push(format!(
            "between {} and {}",
            format_number(low),
            format_number(high)
        ));
    }
    if let Some(low) = expect.at_least {
        parts.push(format!(">= {}", format_number(low)));
    }
    if let Some(high) = expect.at_most {
        parts.push(format!("<= {}", format_number(high)));
    }
    parts.join(" and ")
}

/// What a check expects, in words.
pub fn describe(spec: &CheckSpec) -> String {
    match spec.check_type {
        CheckType::Sql | CheckType::RowCount | CheckType::TagCount => spec
            .expect
            .as_ref()
            .map(describe_expectation)
            .unwrap_or_default(),
        CheckType::PipelineState => {
            let mut text = spec.expect_state.join("|");
            if !spec.expect_last_update.is_empty() {
                text.push_str(&format!(
                    ", last update {}",
                    spec.expect_last_update.join("|")
                ));
            }
            text
        }
        CheckType::Freshness => format!("<= {} min old", spec.within_minutes.unwrap_or(0)),
        CheckType::Http => format!("HTTP {}", spec.expect_status.unwrap_or(200)),
        CheckType::Genie => {
            let mut text = format!("COMPLETED within {} s", spec.within_seconds.unwrap_or(0));
            if let Some(rows) = spec.min_rows {
                text.push_str(&format!(", >= {rows} rows"));
            }
            if let (Some(column), Some(minutes)) = (&spec.column, spec.within_minutes) {
                text.push_str(&format!(", {column} <= {minutes} min old"));
            }
            if let Some(value) = &spec.answer_contains {
                text.push_str(&format!(", mentions {value:?}"));
            }
            text
        }
        CheckType::Latency => super::latency::describe(spec),
        CheckType::Probe => super::probe::describe(spec),
    }
}

/// A measured value as a number, if it is one (numbers, and texts that parse as one).
pub fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    }
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n
            .as_f64()
            .map(format_number)
            .unwrap_or_else(|| n.to_string()),
        other => other.to_string(),
    }
}

/// Whether `value` meets every bound of `expect`; `Err` says why it cannot be compared.
pub fn holds(expect: &CheckExpectation, value: &Value) -> Result<bool, String> {
    if value.is_null() {
        return Err("nothing was measured (NULL or no rows)".into());
    }
    let mut ok = true;
    if let Some(equals) = &expect.equals {
        ok &= match equals {
            Value::Number(n) => {
                let wanted = n.as_f64().unwrap_or(f64::NAN);
                let got = as_number(value)
                    .ok_or_else(|| format!("`{}` is not a number", as_text(value)))?;
                (got - wanted).abs() <= 1e-9 * wanted.abs().max(1.0)
            }
            Value::Bool(b) => as_text(value).eq_ignore_ascii_case(&b.to_string()),
            other => as_text(value) == as_text(other),
        };
    }
    let bounds = [expect.between.map(|[low, _]| low), expect.at_least]
        .into_iter()
        .flatten()
        .map(|low| (low, true))
        .chain(
            [expect.between.map(|[_, high]| high), expect.at_most]
                .into_iter()
                .flatten()
                .map(|high| (high, false)),
        );
    for (bound, is_low) in bounds {
        let got =
            as_number(value).ok_or_else(|| format!("`{}` is not a number", as_text(value)))?;
        ok &= if is_low { got >= bound } else { got <= bound };
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expect(text: &str) -> CheckExpectation {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn equals_compares_numbers_as_numbers_and_texts_as_texts() {
        let e = expect(r#"{"equals": 105}"#);
        assert_eq!(holds(&e, &json!(105)), Ok(true));
        assert_eq!(holds(&e, &json!("105")), Ok(true));
        assert_eq!(holds(&e, &json!(105.0)), Ok(true));
        assert_eq!(holds(&e, &json!(104)), Ok(false));
        assert!(holds(&e, &json!("many")).is_err());
        assert!(holds(&e, &Value::Null).is_err());
        let e = expect(r#"{"equals": "OK"}"#);
        assert_eq!(holds(&e, &json!("OK")), Ok(true));
        assert_eq!(holds(&e, &json!("ok")), Ok(false));
        assert_eq!(describe_expectation(&e), "= 'OK'");
    }

    #[test]
    fn bounds_are_inclusive_and_all_must_hold() {
        let e = expect(r#"{"between": [1, 10]}"#);
        assert_eq!(holds(&e, &json!(1)), Ok(true));
        assert_eq!(holds(&e, &json!(10)), Ok(true));
        assert_eq!(holds(&e, &json!(10.5)), Ok(false));
        assert_eq!(describe_expectation(&e), "between 1 and 10");
        let e = expect(r#"{"at_least": 3, "at_most": 5.5}"#);
        assert_eq!(holds(&e, &json!(3)), Ok(true));
        assert_eq!(holds(&e, &json!(6)), Ok(false));
        assert_eq!(holds(&e, &json!(2)), Ok(false));
        assert_eq!(describe_expectation(&e), ">= 3 and <= 5.5");
    }
}
