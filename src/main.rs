//! The `sweep` binary: the command line lives in `cli`, the work in the `sweep` library.

mod cli;

use std::process::ExitCode;

/// Runs the command line and exits with its code.
fn main() -> ExitCode {
    cli::main()
}
