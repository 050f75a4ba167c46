//! The thin binary: parse, run, print the one-line error, map to the exit code.

use clap::FromArgMatches;

#[allow(clippy::print_stderr)]
fn main() {
    let matches = netlab::generate::command().get_matches();
    let cli = netlab::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // Buffered: a JSON report is written in one go; events flush themselves as they happen.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let code = match netlab::run(&cli, &mut out).and_then(|c| {
        std::io::Write::flush(&mut out).map_err(|e| netlab::error::Error::io("write output", e))?;
        Ok(c)
    }) {
        Ok(code) => code,
        // `netlab ... | head -1`: the reader went away; that is not a failure.
        Err(e) if e.is_broken_pipe() => 0,
        Err(e) => {
            eprintln!("netlab: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
