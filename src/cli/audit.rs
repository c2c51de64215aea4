//! `shikaku audit verify FILE`: checks the audit log's hash chain and names
//! the first line where it breaks (see [`crate::audit`]).

use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub(super) enum AuditCommand {
    /// Check that no line of an audit log was edited, removed or inserted.
    Verify {
        /// The audit log (`audit.log` in the check-log directory by default).
        file: PathBuf,
    },
}

pub(super) fn run(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { file } => {
            let verified = crate::audit::verify(&file)?;
            let chained = verified.lines - verified.unchained - verified.torn.len();
            println!(
                "ok: {}: {} lines, the chain of {chained} records intact",
                file.display(),
                verified.lines
            );
            if verified.unchained > 0 {
                println!(
                    "note: the first {} lines were written before the log was chained and are not protected",
                    verified.unchained
                );
            }
            for line in &verified.torn {
                println!("note: line {line} is not a whole record (a write cut short by a crash); the chain covers it");
            }
            Ok(())
        }
    }
}
