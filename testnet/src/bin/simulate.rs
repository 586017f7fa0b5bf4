//! Runs simulation seeds: `simulate --seeds N --seed-start S [--validators K]`. Prints each
//! failure with the command that replays it and ends with `simulate: N seeds, F failures`.

use std::process::ExitCode;

use tandem_testnet::{run, SimConfig};

fn argument(args: &[String], name: &str, default: u64) -> anyhow::Result<u64> {
    match args.iter().position(|a| a == name) {
        Some(i) => {
            let value = args.get(i + 1).ok_or_else(|| anyhow::anyhow!("{name} needs a value"))?;
            Ok(value.parse().map_err(|_| anyhow::anyhow!("{name} takes a number, got {value}"))?)
        }
        None => Ok(default),
    }
}

fn main() -> anyhow::Result<ExitCode> {
    let args: Vec<String> = std::env::args().collect();
    let seeds = argument(&args, "--seeds", 100)?;
    let seed_start = argument(&args, "--seed-start", 1)?;
    let validators = argument(&args, "--validators", 4)? as usize;
    anyhow::ensure!(validators >= 1, "--validators must be at least 1");
    let mut failures = 0;
    for seed in seed_start..seed_start + seeds {
        let config = SimConfig::new(seed, validators);
        match run(config.clone()) {
            Ok(report) => {
                if std::env::var_os("SIMULATE_VERBOSE").is_some() {
                    println!(
                        "seed {seed}: ok, heights {:?}, {} crashes, byzantine {:?}, {:?}, \
                         {} tampered, {} points charged, {} empty blocks, trace {}",
                        report.heights,
                        report.crashes,
                        config.byzantine,
                        config.empty_blocks,
                        report.tampered_messages,
                        report.charged_points,
                        report.empty_blocks,
                        report.trace_hash
                    );
                }
            }
            Err(violation) => {
                failures += 1;
                println!("seed {seed}: FAILED: {violation}");
                println!(
                    "  profile: byzantine {:?}, empty blocks {:?}",
                    config.byzantine, config.empty_blocks
                );
                println!("  replay: {}", config.replay_command());
            }
        }
    }
    println!("simulate: {seeds} seeds, {failures} failures");
    Ok(if failures == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
