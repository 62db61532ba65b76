//! `cairn-bench` entry point: parses the CLI, runs the chosen benchmark on
//! a multi-thread tokio runtime, prints the figures and sets the exit code
//! (0 ok, 1 request errors, 2 setup failure).

use std::process::ExitCode;

use benches::cli::{Cli, Command};
use benches::Report;
use clap::Parser;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Object(args) => {
            let cfg = match args.config() {
                Ok(cfg) => cfg,
                Err(err) => {
                    eprintln!("cairn-bench: {err:#}");
                    return ExitCode::from(2);
                }
            };
            let mut report = Report::echoing();
            let result = benches::run(&args.credentials(), &cfg, &mut report).await;
            println!("{}", report.json_line());
            match result {
                Ok(outcome) => {
                    if outcome.cleanup_errors > 0 {
                        eprintln!(
                            "cairn-bench: warning: {} cleanup deletes failed",
                            outcome.cleanup_errors
                        );
                    }
                    if outcome.errors > 0 {
                        eprintln!(
                            "cairn-bench: {} request errors, first ones:",
                            outcome.errors
                        );
                        for sample in &outcome.error_samples {
                            eprintln!("  {sample}");
                        }
                        ExitCode::from(1)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(err) => {
                    eprintln!("cairn-bench: {err:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
