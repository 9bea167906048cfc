//! Scenarios: what goes wrong in the simulated fleet, and when.

/// A named scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Base rates only.
    Steady,
    /// A tool starts failing: the agent's completion SLO pages.
    ToolOutage,
    /// A prompt rollout raises an agent's escalation rate.
    Drift,
    /// A runaway loop multiplies an agent's token use.
    CostSpike,
    /// An agent's latency grows a long tail.
    LatencyTail,
    /// An agent floods the approval queue.
    ApprovalStorm,
    /// Cycles through the others, a tool outage first, so that an incident
    /// and a pending approval come within the first minute.
    Mixed,
}

impl Scenario {
    /// Every scenario name, for help and errors.
    pub const NAMES: &'static str =
        "steady, tool-outage, drift, cost-spike, latency-tail, approval-storm, mixed";

    /// Parses a scenario name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "steady" => Self::Steady,
            "tool-outage" => Self::ToolOutage,
            "drift" => Self::Drift,
            "cost-spike" => Self::CostSpike,
            "latency-tail" => Self::LatencyTail,
            "approval-storm" => Self::ApprovalStorm,
            "mixed" => Self::Mixed,
            _ => return None,
        })
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Steady => "steady",
            Self::ToolOutage => "tool-outage",
            Self::Drift => "drift",
            Self::CostSpike => "cost-spike",
            Self::LatencyTail => "latency-tail",
            Self::ApprovalStorm => "approval-storm",
            Self::Mixed => "mixed",
        }
    }
}

/// Length of one phase of the mixed scenario, seconds.
pub const MIXED_PHASE_S: f64 = 120.0;
/// Seconds into a scenario before its trouble starts (a baseline first).
pub const ONSET_S: f64 = 5.0;

/// What is wrong at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    /// `(agent, tool, error rate)` of a failing tool.
    pub outage: Option<(&'static str, &'static str, f64)>,
    /// Agent whose new prompt version escalates more (and the version).
    pub drift: Option<(&'static str, &'static str)>,
    /// Agent whose token use is multiplied.
    pub cost_spike: Option<&'static str>,
    /// Agent whose latency tail grows.
    pub latency_tail: Option<&'static str>,
    /// Agent asking for approval on most runs.
    pub approval_storm: Option<&'static str>,
}

fn single(s: Scenario) -> Effects {
    match s {
        Scenario::Steady | Scenario::Mixed => Effects::default(),
        Scenario::ToolOutage => Effects {
            outage: Some(("refund-bot", "lookup_order", 0.9)),
            ..Effects::default()
        },
        Scenario::Drift => Effects {
            drift: Some(("triage-bot", "triage-v13")),
            ..Effects::default()
        },
        Scenario::CostSpike => Effects {
            cost_spike: Some("invoice-matcher"),
            ..Effects::default()
        },
        Scenario::LatencyTail => Effects {
            latency_tail: Some("remediation-bot"),
            ..Effects::default()
        },
        Scenario::ApprovalStorm => Effects {
            approval_storm: Some("campaign-bot"),
            ..Effects::default()
        },
    }
}

/// The phases of the mixed scenario, in order.
pub const MIXED_ORDER: [Scenario; 5] = [
    Scenario::ToolOutage,
    Scenario::Drift,
    Scenario::CostSpike,
    Scenario::LatencyTail,
    Scenario::ApprovalStorm,
];

impl Scenario {
    /// The effects `t_s` seconds after the start.
    pub fn effects(self, t_s: f64) -> Effects {
        if t_s < ONSET_S {
            return Effects::default();
        }
        match self {
            Self::Mixed => {
                let phase = ((t_s - ONSET_S) / MIXED_PHASE_S) as usize % MIXED_ORDER.len();
                single(MIXED_ORDER[phase])
            }
            other => single(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in Scenario::NAMES.split(", ") {
            assert_eq!(Scenario::parse(name).unwrap().as_str(), name);
        }
        assert!(Scenario::parse("chaos").is_none());
    }

    #[test]
    fn mixed_starts_with_an_outage_and_cycles() {
        assert_eq!(Scenario::Mixed.effects(1.0), Effects::default());
        assert!(Scenario::Mixed.effects(10.0).outage.is_some());
        assert!(
            Scenario::Mixed
                .effects(ONSET_S + MIXED_PHASE_S + 1.0)
                .drift
                .is_some()
        );
        assert!(
            Scenario::Mixed
                .effects(ONSET_S + 5.0 * MIXED_PHASE_S + 1.0)
                .outage
                .is_some()
        );
    }
}
