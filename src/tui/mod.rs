//! The operator TUI: a thin, fast view over the hub's shared state plus the
//! operator's own UI state.

pub mod action;
pub mod keymap;
pub mod sanitize;
pub mod theme;
