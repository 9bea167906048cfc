//! The operator TUI: a thin, fast view over the hub's shared state plus the
//! operator's own UI state.

pub mod action;
pub mod app;
mod chrome;
pub mod ctx;
pub mod data;
pub mod dialogs;
pub mod history;
pub mod keymap;
pub mod markdown;
pub mod panes;
pub mod rows;
pub mod run;
pub mod sanitize;
pub mod screen;
pub mod scroll;
mod table;
pub mod theme;
pub mod view;

/// The dialogs under their earlier name.
pub use dialogs as dialog;
