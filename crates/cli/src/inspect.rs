//! `elevenfold inspect`: a table of a data directory's WAL segments, snapshots and record file
//! with their checksum status. Read-only (`storage::inspect`), so it is safe next to a running
//! node.
//!
//! A torn tail in the last segment, or a partial last page of the record file, is reported but
//! is not corruption: it is an interrupted write that recovery cuts. Any other defect makes the
//! command exit 1.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use storage::Inspection;

use crate::output::print_stdout;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The data directory to inspect.
    #[arg(long, env = "ELEVENFOLD_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

pub fn run(args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let inspection = storage::inspect(&args.data_dir)
        .with_context(|| format!("cannot inspect {}", args.data_dir.display()))?;
    let report = render(&inspection);
    print_stdout(&report.text)?;
    Ok(if report.corrupt {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The printed table and whether anything in it is corrupt.
pub struct Report {
    pub text: String,
    pub corrupt: bool,
}

pub fn render(inspection: &Inspection) -> Report {
    let mut rows: Vec<[String; 6]> = Vec::new();
    let mut corrupt = false;
    let last_segment = inspection.segments.len().checked_sub(1);
    for (index, segment) in inspection.segments.iter().enumerate() {
        let ops = match segment.last_op {
            Some(last) => format!("{}..={last}", segment.first_op),
            None => format!("{}.. (empty)", segment.first_op),
        };
        let status = match &segment.defect {
            None => "ok".to_string(),
            Some(defect) if defect.valid_frame_after.is_none() && Some(index) == last_segment => {
                format!(
                    "torn tail at byte {}: {} (recovery cuts it)",
                    defect.offset, defect.reason
                )
            }
            Some(defect) => {
                corrupt = true;
                let mut status = format!("CORRUPT at byte {}: {}", defect.offset, defect.reason);
                if let Some(offset) = defect.valid_frame_after {
                    status.push_str(&format!("; a valid frame follows at byte {offset}"));
                }
                status
            }
        };
        rows.push([
            "segment".to_string(),
            file_name(&segment.path),
            ops,
            segment.entry_count.to_string(),
            human_size(segment.size),
            status,
        ]);
    }
    for snapshot in &inspection.snapshots {
        let status = match &snapshot.defect {
            None => "ok".to_string(),
            Some(reason) => {
                corrupt = true;
                format!("CORRUPT: {reason}")
            }
        };
        rows.push([
            "snapshot".to_string(),
            file_name(&snapshot.path),
            format!("op {}", snapshot.op),
            "-".to_string(),
            human_size(snapshot.size),
            status,
        ]);
    }
    if let Some(records) = &inspection.records {
        let mut status = match &records.defect {
            None => "ok".to_string(),
            Some(defect) => {
                corrupt = true;
                format!(
                    "CORRUPT: {} bad page(s), the first at byte {}: {} (harmless only above \
                     the snapshot's cold floor, which recovery cuts)",
                    records.bad_page_count, defect.offset, defect.reason
                )
            }
        };
        if records.partial_page_size > 0 {
            let _ = write!(
                status,
                "; torn partial page of {} bytes at the end (recovery cuts it)",
                records.partial_page_size
            );
        }
        rows.push([
            "records".to_string(),
            file_name(&records.path),
            format!("{} page(s)", records.page_count),
            records.record_count.to_string(),
            human_size(records.size),
            status,
        ]);
    }
    for path in &inspection.other_files {
        rows.push([
            "other".to_string(),
            file_name(path),
            "-".to_string(),
            "-".to_string(),
            "-".to_string(),
            "not part of the log (ignored)".to_string(),
        ]);
    }

    let header = ["KIND", "FILE", "OPS", "ENTRIES", "SIZE", "STATUS"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (column, (cell, width)) in row.iter().zip(widths).enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ");
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    let _ = write!(
        text,
        "{} segment(s), {} snapshot(s)",
        inspection.segments.len(),
        inspection.snapshots.len(),
    );
    if let Some(records) = &inspection.records {
        let _ = write!(text, ", {} record(s)", records.record_count);
    }
    let _ = write!(text, ": {}", if corrupt { "CORRUPT" } else { "ok" });
    Report { text, corrupt }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut unit = 0;
    #[allow(
        clippy::cast_precision_loss,
        reason = "a display rounded to one decimal"
    )]
    let mut value = bytes as f64;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
