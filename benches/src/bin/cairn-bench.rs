//! `cairn-bench` entry point: parses the CLI, runs the chosen benchmark on
//! a multi-thread tokio runtime, prints the figures and sets the exit code
//! (0 ok, 1 request errors, 2 setup failure or a failed `ring`/`repair`).

use std::process::ExitCode;

use benches::cli::{Cli, Command, ObjectArgs, PoliciesArgs, S3Args};
use benches::object_bench::run_session;
use benches::repair_bench::run_repair;
use benches::ring_bench::run_ring;
use benches::swift_client::{authenticate, Session};
use benches::{Outcome, Report};
use clap::Parser;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Object(args) => object(args).await,
        Command::S3(args) => s3(args).await,
        Command::Policies(args) => policies(args).await,
        Command::Image(args) => {
            let cfg = match args.config() {
                Ok(cfg) => cfg,
                Err(err) => return fail(&err),
            };
            let mut report = Report::echoing();
            let result = benches::image_bench::run_image(&cfg, &mut report).await;
            println!("{}", report.json_line());
            result.map_or_else(|err| fail(&err), |()| ExitCode::SUCCESS)
        }
        Command::Identity(args) => {
            let cfg = match args.config() {
                Ok(cfg) => cfg,
                Err(err) => return fail(&err),
            };
            let mut report = Report::echoing();
            let result = benches::identity_bench::run_identity(&cfg, &mut report).await;
            println!("{}", report.json_line());
            result.map_or_else(|err| fail(&err), |()| ExitCode::SUCCESS)
        }
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
    finish(result)
}

/// The per-policy figures (`<policy>.*`).
async fn policies(args: PoliciesArgs) -> ExitCode {
    let cfg = match args.object.config() {
        Ok(cfg) => cfg,
        Err(err) => return fail(&err),
    };
    let creds = args.object.credentials();
    let mut report = Report::echoing();
    let result = match authenticate(&creds.auth_url, &creds.user, &creds.key, cfg.timeout).await {
        Ok(session) => {
            benches::object_bench::run_policies(
                session,
                &cfg,
                &args.policies,
                &args.devices_dir,
                &mut report,
            )
            .await
        }
        Err(err) => Err(err),
    };
    println!("{}", report.json_line());
    finish(result)
}

/// The object figures over Swift (`swift.*`), then over S3 (`s3.*`).
async fn s3(args: S3Args) -> ExitCode {
    let cfg = match args.object.config() {
        Ok(cfg) => cfg,
        Err(err) => return fail(&err),
    };
    let creds = args.object.credentials();
    let mut report = Report::echoing();
    // The phase that runs second finds the first one's deletes still
    // settling: `--s3-first` swaps the order to show what that costs.
    let order = if args.s3_first {
        ["s3", "swift"]
    } else {
        ["swift", "s3"]
    };
    let mut result: anyhow::Result<Outcome> = Ok(Outcome {
        errors: 0,
        error_samples: Vec::new(),
        cleanup_errors: 0,
    });
    for label in order {
        let session = if label == "s3" {
            Session::s3(&args.endpoint, args.signer())
        } else {
            authenticate(&creds.auth_url, &creds.user, &creds.key, cfg.timeout).await
        };
        let phase = match session {
            Ok(session) => run_session(session, &cfg, &mut report, label).await,
            Err(err) => Err(err),
        };
        result = match (result, phase) {
            (Err(err), _) | (Ok(_), Err(err)) => Err(err),
            (Ok(a), Ok(b)) => Ok(Outcome {
                errors: a.errors + b.errors,
                error_samples: [a.error_samples, b.error_samples].concat(),
                cleanup_errors: a.cleanup_errors + b.cleanup_errors,
            }),
        };
        if result.is_err() {
            break;
        }
    }
    println!("{}", report.json_line());
    finish(result)
}

fn finish(result: anyhow::Result<Outcome>) -> ExitCode {
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
