//! `netlab generate` (hidden): man pages (clap_mangen, one per subcommand) and bash / zsh /
//! fish completions (clap_complete), written from the same clap definitions the binary uses.
//! `make docs` runs it; a test fails when the committed files drift from the code.

use std::path::{Path, PathBuf};

use clap::Args;
use clap_complete::Shell;

use crate::error::{IoContext, Result};

/// Arguments of `netlab generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Directory that receives `man/` and `completions/`.
    #[arg(long, default_value = ".")]
    pub out_dir: PathBuf,
}

/// The full clap command, with the exit-code section on every subcommand.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    with_exit_codes(crate::Cli::command())
}

/// The exit codes as after-help of `cmd` and of every subcommand it has so far (a command's
/// own subcommands are added when it is built: [`crate::cli::Lazy`] calls this again then).
pub fn with_exit_codes(cmd: clap::Command) -> clap::Command {
    let cmd = if cmd.get_after_help().is_none() {
        cmd.after_help(crate::cli::EXIT_CODES_HELP)
    } else {
        cmd
    };
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    names
        .into_iter()
        .fold(cmd, |c, n| c.mut_subcommand(n, with_exit_codes))
}

/// Write everything into `dir/man` and `dir/completions`.
pub fn write_all(dir: &Path) -> Result<()> {
    // The whole tree, every command's arguments included.
    crate::cli::EAGER.store(true, std::sync::atomic::Ordering::Relaxed);
    let man = dir.join("man");
    let comp = dir.join("completions");
    std::fs::create_dir_all(&man).ctx(|| format!("create {}", man.display()))?;
    std::fs::create_dir_all(&comp).ctx(|| format!("create {}", comp.display()))?;
    clap_mangen::generate_to(command(), &man)
        .ctx(|| format!("write man pages to {}", man.display()))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = command();
        clap_complete::generate_to(shell, &mut cmd, "netlab", &comp)
            .ctx(|| format!("write {shell} completion to {}", comp.display()))?;
    }
    Ok(())
}

/// Run `netlab generate`.
pub fn run(a: &GenerateArgs) -> Result<i32> {
    write_all(&a.out_dir)?;
    Ok(0)
}
