//! Every change an operator can ask of the TUI, as one enum. Keymaps name
//! these in snake_case; updates that come from the hub are not actions and
//! cannot be bound.

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Context {
    /// Everywhere, unless a screen or dialog binds the key itself.
    Global,
    /// The SLO overview.
    Overview,
    /// The incident queue.
    Incidents,
    /// Pending approvals.
    Approvals,
    /// Controls in force.
    Controls,
    /// The agent inventory.
    Agents,
    /// The runbook of the selected incident.
    Runbook,
    /// The shift handoff.
    Handoff,
    /// Decided approvals, resolved incidents, ended controls.
    History,
    /// The audit log.
    Audit,
    /// One agent's detail and drill-down.
    Agent,
    /// Any dialog (confirmations, menus, text entry).
    Dialog,
}

impl Context {
    /// Every context, in keymap-file order.
    pub const ALL: [Context; 12] = [
        Self::Global,
        Self::Overview,
        Self::Incidents,
        Self::Approvals,
        Self::Controls,
        Self::Agents,
        Self::Runbook,
        Self::Handoff,
        Self::History,
        Self::Audit,
        Self::Agent,
        Self::Dialog,
    ];

    /// The name used in keymap files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::Overview => "overview",
            Self::Incidents => "incidents",
            Self::Approvals => "approvals",
            Self::Controls => "controls",
            Self::Agents => "agents",
            Self::Runbook => "runbook",
            Self::Handoff => "handoff",
            Self::History => "history",
            Self::Audit => "audit",
            Self::Agent => "agent",
            Self::Dialog => "dialog",
        }
    }

    /// Parses a keymap-file context name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }
}

macro_rules! actions {
    ($( $variant:ident => $name:literal, $help:literal, [$($ctx:ident),*] ;)*) => {
        /// An operator's request.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action {
            $( #[doc = $help] $variant, )*
        }

        impl Action {
            /// Every action.
            pub const ALL: &'static [Action] = &[$(Self::$variant),*];

            /// The keymap name.
            pub fn name(self) -> &'static str {
                match self { $(Self::$variant => $name,)* }
            }

            /// A short description for the help screen.
            pub fn help(self) -> &'static str {
                match self { $(Self::$variant => $help,)* }
            }

            /// The contexts it may be bound in.
            pub fn contexts(self) -> &'static [Context] {
                match self { $(Self::$variant => &[$(Context::$ctx),*],)* }
            }

            /// Parses a keymap name.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($name => Some(Self::$variant),)* _ => None }
            }
        }
    };
}

actions! {
    Quit => "quit", "quit agentdeck", [Global];
    Help => "help", "show the keys of this screen", [Global];
    CommandLine => "command_line", "open the command line (:incidents, :agent NAME, :q)", [Global];
    Filter => "filter", "filter the list", [Global];
    Copy => "copy", "copy the selected item's id to the clipboard (OSC 52)", [Global];
    Contain => "contain", "containment menu for the selected agent", [Global, Overview, Incidents, Approvals, Agents, Agent];
    Inspect => "inspect", "the selected row's agent: owners, changes, slowest and failed runs", [Global];
    AgentFilter => "agent_filter", "show all agents, those without an owner, unregistered ones, or those acting autonomously on money", [Agents];
    CancelPending => "cancel_pending", "cancel the oldest action still waiting for the hub", [Global];
    EmergencyStop => "emergency_stop", "pause the whole fleet (lead; asks for typed confirmation)", [Global];
    ShowOverview => "show_overview", "Overview screen", [Global];
    ShowIncidents => "show_incidents", "Incidents screen", [Global];
    ShowApprovals => "show_approvals", "Approvals screen", [Global];
    ShowControls => "show_controls", "Controls screen", [Global];
    ShowAgents => "show_agents", "Agents screen", [Global];
    ShowRunbook => "show_runbook", "Runbook screen", [Global];
    ShowHandoff => "show_handoff", "Handoff screen", [Global];
    ShowHistory => "show_history", "History screen: decided approvals, resolved incidents, ended controls", [Global];
    ShowAudit => "show_audit", "Audit screen: the audit log and the state of its chain", [Global];
    NextScreen => "next_screen", "next screen", [Global];
    PrevScreen => "prev_screen", "previous screen", [Global];
    Up => "up", "move up", [Global, Dialog];
    Down => "down", "move down", [Global, Dialog];
    PageUp => "page_up", "page up", [Global];
    PageDown => "page_down", "page down", [Global];
    Top => "top", "first row", [Global];
    Bottom => "bottom", "last row", [Global];
    Open => "open", "open the detail", [Global];
    Close => "close", "close, cancel, clear the filter", [Global];
    Approve => "approve", "approve (asks to confirm)", [Approvals];
    Reject => "reject", "reject with a reason", [Approvals];
    Acknowledge => "acknowledge", "acknowledge the incident", [Incidents];
    Take => "take", "assign the incident to me", [Incidents];
    Assign => "assign", "assign the incident to another operator (present ones first)", [Incidents];
    Escalate => "escalate", "raise the severity", [Incidents];
    Note => "note", "add a note to the incident", [Incidents];
    HandoffNote => "handoff_note", "write a note for the next shift, shown in the summary", [Handoff];
    RunStep => "run_step", "run the focused runbook step (asks to confirm), or tick it by hand", [Runbook];
    Refresh => "refresh", "fetch again (the handoff summary, the agent's drill-down, history, the audit log)", [Handoff, Agent, History, Audit];
    HistoryKind => "history_kind", "show decided approvals, resolved incidents or ended controls", [History];
    Resolve => "resolve", "resolve with a summary", [Incidents];
    Snooze => "snooze", "page nobody about the incident for a while (or end its snooze)", [Incidents];
    NewIncident => "new_incident", "open an incident by hand: severity, then `agent: title`", [Incidents];
    Sort => "sort", "cycle the list's order: most urgent, most severe, oldest first, by agent", [Global];
    Mark => "mark", "mark the row for a bulk action (r rejects, a acknowledges every marked one)", [Approvals, Incidents];
    Lift => "lift", "lift the selected control (asks to confirm)", [Controls];
    Confirm => "confirm", "confirm the dialog", [Dialog];
    Cancel => "cancel", "cancel the dialog", [Dialog];
}

impl Action {
    /// What the hub must allow the operator for this action to be worth
    /// sending, from the one role table; None for actions anyone may take.
    pub fn permission(self) -> Option<crate::model::role::Permission> {
        use crate::model::role::Permission;
        match self {
            Self::Approve | Self::Reject => Some(Permission::Decide),
            Self::Acknowledge
            | Self::Take
            | Self::Assign
            | Self::Escalate
            | Self::Note
            | Self::Resolve
            | Self::Snooze
            | Self::NewIncident => Some(Permission::Respond),
            Self::Contain | Self::Lift => Some(Permission::Contain),
            Self::RunStep => Some(Permission::RunStep),
            Self::EmergencyStop => Some(Permission::ContainFleet),
            Self::HandoffNote => Some(Permission::HandoffNote),
            _ => None,
        }
    }
}
