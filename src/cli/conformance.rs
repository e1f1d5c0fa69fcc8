//! `atoll conformance [--json]`: run the attack suite on a throwaway node (see
//! `src/conformance.rs`); exit 1 if any attack is not refused as it should be.

use anyhow::{bail, Context, Result};
use clap::Args;

/// Arguments of `atoll conformance`.
#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Run the suite and print its report.
pub fn run(args: ConformanceArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = rt.block_on(crate::conformance::run())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    if !report.ok() {
        bail!(
            "{} of {} attacks were not refused as they should be",
            report.failed,
            report.attacks.len()
        );
    }
    Ok(())
}
