//! `agentdeck keys`, `agentdeck keys check FILE` and `agentdeck config path`.

use std::process::ExitCode;

use crate::cli::{KeysArgs, KeysCommand};
use crate::tui::action::{Action, Context};
use crate::tui::keymap::Keymap;

/// `agentdeck keys [check FILE]`.
pub fn run(args: KeysArgs) -> ExitCode {
    match args.command {
        Some(KeysCommand::Check { file }) => {
            let name = file.display().to_string();
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => return super::fail(format!("cannot read {name}: {e}")),
            };
            match Keymap::default_keymap().merge(&name, &text) {
                Ok(k) => {
                    let n: usize = Context::ALL.iter().map(|c| k.bindings(*c).len()).sum();
                    println!("{name}: ok ({n} bindings after merging over the default keymap)");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    println!("{e}");
                    ExitCode::from(1)
                }
            }
        }
        None => {
            use std::io::Write;
            // Written through a lock, ignoring errors, so `| head` ends
            // quietly instead of panicking on a closed pipe.
            let mut out = std::io::stdout().lock();
            let k = Keymap::default_keymap();
            for ctx in Context::ALL {
                let _ = writeln!(out, "[{}]", ctx.name());
                for a in Action::ALL.iter().filter(|a| a.contexts().contains(&ctx)) {
                    let keys = k.keys_for(ctx, *a);
                    let keys = if ctx == Context::Global || !keys.is_empty() {
                        keys.join(", ")
                    } else {
                        String::new()
                    };
                    let _ = writeln!(out, "  {:<16} {:<18} {}", a.name(), keys, a.help());
                }
            }
            ExitCode::SUCCESS
        }
    }
}

/// `agentdeck config path`.
pub fn config_path() -> ExitCode {
    let show = |p: Option<std::path::PathBuf>| {
        p.map(|p| p.display().to_string())
            .unwrap_or_else(|| "(none on this machine)".into())
    };
    println!("config     {}", show(crate::config::config_file()));
    println!("tokens     {}", show(crate::config::tokens_file()));
    println!("themes     {}", show(crate::config::themes_dir()));
    println!("keymaps    {}", show(crate::config::keymaps_dir()));
    println!(
        "keymap     {}  (merged over the chosen keymap)",
        show(crate::config::keymap_overrides())
    );
    println!("log        {}", show(crate::config::log_file()));
    println!("data       {}", show(crate::config::data_file()));
    ExitCode::SUCCESS
}
