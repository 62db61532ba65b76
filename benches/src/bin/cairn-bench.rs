//! `cairn-bench` entry point: parses the CLI, runs the chosen benchmark on
//! a multi-thread tokio runtime, prints the figures and sets the exit code
//! (0 ok, 1 request errors, 2 setup failure or a failed `ring`/`repair`).

use std::process::ExitCode;

use benches::cli::{Cli, Command, ObjectArgs};
use benches::repair_bench::run_repair;
use benches::ring_bench::run_ring;
use benches::Report;
use clap::Parser;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Object(args) => object(args).await,
        Command::Ring(args) => {
            let cfg = match args.config() {
                Ok(cfg) => cfg,
                Err(err) => return fail(&err),
            };
            let mut report = Report::echoing();
            let result = run_ring(&cfg, &mut report);
            println!("{}", report.json_line());
            result.map_or_else(|err| fail(&err), |()| ExitCode::SUCCESS)
        }
        Command::Ec(args) => {
            let cfg = match args.config() {
                Ok(cfg) => cfg,
                Err(err) => return fail(&err),
            };
            let mut report = Report::echoing();
            let result = benches::ec_bench::run_ec(&cfg, &mut report);
            println!("{}", report.json_line());
            result.map_or_else(|err| fail(&err), |()| ExitCode::SUCCESS)
        }
        Command::Nbd(args) => {
            let cfg = match args.config() {
                Ok(cfg) => cfg,
                Err(err) => return fail(&err),
            };
            let mut report = Report::echoing();
            let result = benches::nbd_bench::run_nbd(&cfg, &mut report).await;
            println!("{}", report.json_line());
            result.map_or_else(|err| fail(&err), |()| ExitCode::SUCCESS)
        }
        Command::Repair(args) => {
            let cfg = match args.config() {
                Ok(cfg) => cfg,
                Err(err) => return fail(&err),
            };
            let mut report = Report::echoing();
            // On a signal the benchmark future is dropped, which kills the
            // cairn child and removes the temporary directory.
            let result = tokio::select! {
                result = run_repair(&cfg, &mut report) => result,
                signal = interrupted() => Err(anyhow::anyhow!("interrupted by {signal}")),
            };
            println!("{}", report.json_line());
            result.map_or_else(|err| fail(&err), |()| ExitCode::SUCCESS)
        }
    }
}

fn fail(err: &anyhow::Error) -> ExitCode {
    eprintln!("cairn-bench: {err:#}");
    ExitCode::from(2)
}

/// Resolves at SIGINT or SIGTERM with the signal's name.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

async fn object(args: ObjectArgs) -> ExitCode {
    let cfg = match args.config() {
        Ok(cfg) => cfg,
        Err(err) => return fail(&err),
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
        Err(err) => fail(&err),
    }
}
