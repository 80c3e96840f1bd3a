//! `semguard-bench-report RAW.tsv OUTDIR` — turns the end-to-end benchmark's raw measurements
//! (scripts/bench) into `OUTDIR/results.md` (a markdown table) and `OUTDIR/per-call.svg`.
//!
//! RAW.tsv has one measurement a line: `config<TAB>op<TAB>rep<TAB>ns_per_call`. Lines starting
//! with `#` are comments. The first configuration in the file is the baseline every ratio is
//! taken against (scripts/bench writes `off` first); all of them come from one boot, so the
//! ratios compare like with like on a noisy machine.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

mod plot;

/// One configuration × operation: the per-call times of every repetition.
#[derive(Debug, Default, Clone)]
pub struct Cell {
    /// ns per call, one value per repetition, in file order.
    pub samples: Vec<u64>,
}

impl Cell {
    /// Median (the lower middle value for an even count): robust against one disturbed run.
    pub fn median(&self) -> Option<u64> {
        let mut v = self.samples.clone();
        v.sort_unstable();
        v.get(v.len().checked_sub(1)? / 2).copied()
    }
    /// Smallest and largest sample: the spread over repetitions.
    pub fn range(&self) -> Option<(u64, u64)> {
        Some((*self.samples.iter().min()?, *self.samples.iter().max()?))
    }
}

/// The measurements, with configurations and operations in the order they first appear.
#[derive(Debug, Default)]
pub struct Results {
    /// Configurations, baseline first.
    pub configs: Vec<String>,
    /// Operations.
    pub ops: Vec<String>,
    /// (config index, op index) → samples.
    pub cells: BTreeMap<(usize, usize), Cell>,
}

fn index_of(list: &mut Vec<String>, name: &str) -> usize {
    match list.iter().position(|n| n == name) {
        Some(i) => i,
        None => {
            list.push(name.to_string());
            list.len() - 1
        }
    }
}

/// Parses RAW.tsv; errors name the line.
pub fn parse(text: &str) -> Result<Results, String> {
    let mut r = Results::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let [config, op, rep, ns] = f[..] else {
            return Err(format!("line {}: expected 4 tab-separated fields (config op rep ns_per_call), got {}", n + 1, f.len()));
        };
        rep.parse::<u32>().map_err(|e| format!("line {}: repetition {rep:?}: {e}", n + 1))?;
        let ns = ns.parse::<u64>().map_err(|e| format!("line {}: ns_per_call {ns:?}: {e}", n + 1))?;
        let c = index_of(&mut r.configs, config);
        let o = index_of(&mut r.ops, op);
        r.cells.entry((c, o)).or_default().samples.push(ns);
    }
    if r.configs.is_empty() {
        return Err("no measurements".into());
    }
    Ok(r)
}

/// Ratio of two medians with two decimals, without floats: "1.07×".
fn ratio(value: u64, base: u64) -> String {
    if base == 0 {
        return "–".into();
    }
    let hundredths = (u128::from(value) * 100 + u128::from(base) / 2) / u128::from(base);
    format!("{}.{:02}×", hundredths / 100, hundredths % 100)
}

/// The markdown table: one row per operation and configuration.
pub fn table(r: &Results) -> String {
    let mut s = String::new();
    let base = r.configs.first().map(String::as_str).unwrap_or("");
    let _ = writeln!(s, "| operation | configuration | median ns/call | min–max over runs | runs | vs `{base}` |");
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|");
    for (o, op) in r.ops.iter().enumerate() {
        let base_median = r.cells.get(&(0, o)).and_then(Cell::median);
        for (c, config) in r.configs.iter().enumerate() {
            let Some(cell) = r.cells.get(&(c, o)) else { continue };
            let (Some(m), Some((lo, hi))) = (cell.median(), cell.range()) else { continue };
            let vs = base_median.map_or_else(|| "–".to_string(), |b| ratio(m, b));
            let _ = writeln!(s, "| {op} | {config} | {m} | {lo}–{hi} | {} | {vs} |", cell.samples.len());
        }
    }
    s
}

fn run(raw: &Path, out: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(raw).map_err(|e| format!("{}: {e}", raw.display()))?;
    let r = parse(&text).map_err(|e| format!("{}: {e}", raw.display()))?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let md = out.join("results.md");
    std::fs::write(&md, table(&r)).map_err(|e| format!("{}: {e}", md.display()))?;
    let svg = out.join("per-call.svg");
    plot::draw(&r, &svg)?;
    println!("{}\n{}", md.display(), svg.display());
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, raw, out] = &args[..] else {
        eprintln!("usage: semguard-bench-report RAW.tsv OUTDIR");
        return ExitCode::from(2);
    };
    match run(Path::new(raw), Path::new(out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("semguard-bench-report: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = "# config op rep ns\noff\tgetppid\t1\t100\noff\tgetppid\t2\t120\noff\tgetppid\t3\t90\n\
                       semguard.ko\tgetppid\t1\t5000\nsemguard.ko\tgetppid\t2\t5400\n";

    #[test]
    fn medians_ranges_and_ratios() {
        let r = parse(RAW).unwrap();
        assert_eq!(r.configs, ["off", "semguard.ko"]);
        let off = &r.cells[&(0, 0)];
        assert_eq!(off.median(), Some(100));
        assert_eq!(off.range(), Some((90, 120)));
        assert_eq!(r.cells[&(1, 0)].median(), Some(5000));
        let t = table(&r);
        assert!(t.contains("| getppid | off | 100 | 90–120 | 3 | 1.00× |"), "{t}");
        assert!(t.contains("| getppid | semguard.ko | 5000 | 5000–5400 | 2 | 50.00× |"), "{t}");
    }

    #[test]
    fn ratio_rounds_without_floats() {
        assert_eq!(ratio(107, 100), "1.07×");
        assert_eq!(ratio(2, 3), "0.67×");
        assert_eq!(ratio(1, 0), "–");
    }

    #[test]
    fn bad_lines_are_named() {
        assert_eq!(parse("off\tgetppid\t1\n").unwrap_err(), "line 1: expected 4 tab-separated fields (config op rep ns_per_call), got 3");
        assert!(parse("off\tgetppid\tx\t5\n").unwrap_err().starts_with("line 1: repetition \"x\""));
        assert!(parse("off\tgetppid\t1\t-5\n").unwrap_err().starts_with("line 1: ns_per_call \"-5\""));
        assert_eq!(parse("# nothing\n").unwrap_err(), "no measurements");
    }

    #[test]
    fn writes_both_files() {
        let dir = std::env::temp_dir().join(format!("sg-bench-report-{}", std::process::id()));
        let raw = dir.join("raw.tsv");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&raw, RAW).unwrap();
        run(&raw, &dir.join("out")).unwrap();
        let svg = std::fs::read_to_string(dir.join("out/per-call.svg")).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("getppid") && svg.contains("semguard.ko"));
        assert!(std::fs::read_to_string(dir.join("out/results.md")).unwrap().contains("50.00×"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
