//! The operator TUI: a thin, fast view over the hub's shared state plus the
//! operator's own UI state.

pub mod action;
pub mod agent_view;
pub mod app;
pub mod data;
pub mod dialog;
pub mod keymap;
pub mod markdown;
pub mod run;
pub mod sanitize;
pub mod screen;
pub mod theme;
pub mod view;
