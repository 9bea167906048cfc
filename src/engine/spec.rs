//! Loading and checking SLO specs from TOML.

use std::collections::HashSet;

use serde::Deserialize;
use thiserror::Error;

use crate::model::slo::{SliKind, SloSpec};
use crate::model::validate;

/// The SLOs used when none are configured; also the documented example.
pub const DEFAULT_SPECS: &str = include_str!("../../docs/slos.example.toml");

/// Longest SLO window the engine keeps, in days.
pub const MAX_WINDOW_DAYS: u32 = 90;

/// A spec file that cannot be used, with the file and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}: {message}")]
pub struct SpecError {
    /// The file (or source name) that was read.
    pub file: String,
    /// What is wrong, naming the SLO and field.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    #[serde(default)]
    slo: Vec<SloSpec>,
}

/// Parses and checks a TOML file of `[[slo]]` tables. `file` names the
/// source in errors.
pub fn parse_specs(file: &str, text: &str) -> Result<Vec<SloSpec>, SpecError> {
    let err = |message: String| SpecError {
        file: file.to_string(),
        message,
    };
    let parsed: SpecFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
    let mut names = HashSet::new();
    for spec in &parsed.slo {
        validate_spec(spec).map_err(|m| err(format!("SLO {:?}: {m}", spec.name)))?;
        if !names.insert(spec.name.as_str()) {
            return Err(err(format!("SLO {:?} is defined twice", spec.name)));
        }
    }
    Ok(parsed.slo)
}

/// The built-in SLOs.
pub fn default_specs() -> Vec<SloSpec> {
    // The embedded file is checked by a unit test, so this cannot fail at
    // run time; an empty list would only mean no SLO series.
    parse_specs("docs/slos.example.toml", DEFAULT_SPECS).unwrap_or_default()
}

/// Checks one spec; the message names the field at fault.
pub fn validate_spec(spec: &SloSpec) -> Result<(), String> {
    validate::id("name", &spec.name).map_err(|e| e.to_string())?;
    for (field, value) in [("agent", &spec.agent), ("workflow", &spec.workflow)] {
        if value != "*" {
            validate::id(field, value).map_err(|e| e.to_string())?;
        }
    }
    if !(spec.objective > 0.0 && spec.objective < 1.0) {
        return Err(format!(
            "field \"objective\" must be between 0 and 1, exclusive (e.g. 0.95), got {}",
            spec.objective
        ));
    }
    if spec.window_days == 0 || spec.window_days > MAX_WINDOW_DAYS {
        return Err(format!(
            "field \"window_days\" must be 1 to {MAX_WINDOW_DAYS}, got {}",
            spec.window_days
        ));
    }
    match spec.sli {
        SliKind::Latency => {
            if spec.threshold_ms.is_none() {
                return Err("a latency SLI needs \"threshold_ms\"".into());
            }
        }
        SliKind::Cost => match spec.threshold_usd {
            Some(t) if t.is_finite() && t >= 0.0 => {}
            Some(t) => return Err(format!("field \"threshold_usd\" must be ≥ 0, got {t}")),
            None => return Err("a cost SLI needs \"threshold_usd\"".into()),
        },
        SliKind::Completion | SliKind::Policy => {}
    }
    if spec.threshold_ms.is_some() && spec.sli != SliKind::Latency {
        return Err(format!(
            "field \"threshold_ms\" applies only to latency SLIs, not {}",
            spec.sli.as_str()
        ));
    }
    if spec.threshold_usd.is_some() && spec.sli != SliKind::Cost {
        return Err(format!(
            "field \"threshold_usd\" applies only to cost SLIs, not {}",
            spec.sli.as_str()
        ));
    }
    Ok(())
}

/// True when `pattern` (an id or `*`) matches `value`.
pub fn selects(pattern: &str, value: &str) -> bool {
    pattern == "*" || pattern == value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_parses() {
        let specs = parse_specs("docs/slos.example.toml", DEFAULT_SPECS).unwrap();
        assert!(specs.len() >= 4);
        assert!(specs.iter().any(|s| s.sli == SliKind::Latency));
        assert_eq!(default_specs(), specs);
    }

    #[test]
    fn defaults_fill_window_selector_and_floor() {
        let specs = parse_specs(
            "t.toml",
            "[[slo]]\nname = \"c\"\nsli = \"completion\"\nobjective = 0.9\n",
        )
        .unwrap();
        assert_eq!(specs[0].agent, "*");
        assert_eq!(specs[0].workflow, "*");
        assert_eq!(specs[0].window_days, 30);
        assert_eq!(specs[0].min_events, 20);
    }

    fn error_of(text: &str) -> String {
        parse_specs("slos.toml", text).unwrap_err().to_string()
    }

    #[test]
    fn bad_specs_name_the_file_slo_and_field() {
        let e = error_of("[[slo]]\nname = \"x\"\nsli = \"completion\"\nobjective = 1.5\n");
        assert!(
            e.starts_with("slos.toml: SLO \"x\": field \"objective\""),
            "{e}"
        );
        let e = error_of("[[slo]]\nname = \"x\"\nsli = \"latency\"\nobjective = 0.9\n");
        assert!(e.contains("needs \"threshold_ms\""), "{e}");
        let e = error_of(
            "[[slo]]\nname = \"x\"\nsli = \"cost\"\nobjective = 0.9\nthreshold_ms = 5\nthreshold_usd = 1.0\n",
        );
        assert!(
            e.contains("\"threshold_ms\" applies only to latency"),
            "{e}"
        );
        let e = error_of("[[slo]]\nname = \"x\"\nsli = \"speed\"\nobjective = 0.9\n");
        assert!(e.contains("speed"), "{e}");
        let e = error_of("[[slo]]\nname = \"x\"\nsli = \"policy\"\nobjective = 0.9\ncolour = 1\n");
        assert!(e.contains("colour"), "{e}");
        let e =
            error_of("[[slo]]\nname = \"x\"\nsli = \"policy\"\nobjective = 0.9\nwindow_days = 0\n");
        assert!(e.contains("window_days"), "{e}");
        let e = error_of(
            "[[slo]]\nname = \"x\"\nsli = \"policy\"\nobjective = 0.9\n[[slo]]\nname = \"x\"\nsli = \"policy\"\nobjective = 0.9\n",
        );
        assert!(e.contains("defined twice"), "{e}");
        let e = error_of("[[slo]]\nname = \"a b\"\nsli = \"policy\"\nobjective = 0.9\n");
        assert!(e.contains("not allowed in an identifier"), "{e}");
    }

    #[test]
    fn wildcard_selects_everything() {
        assert!(selects("*", "refund-bot"));
        assert!(selects("refund-bot", "refund-bot"));
        assert!(!selects("refund-bot", "triage-bot"));
    }
}
