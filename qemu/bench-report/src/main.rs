//! `semguard-bench-report RAW.tsv OUTDIR [PROFILE.txt]` — turns the end-to-end benchmark's raw
//! measurements (scripts/bench) into `OUTDIR/results.md` (markdown tables) and
//! `OUTDIR/per-call.svg`.
//!
//! RAW.tsv has one measurement a line: `config<TAB>op<TAB>rep<TAB>per_call`. Lines starting
//! with `#` are comments, except `# unit: TEXT`, which names what per_call counts (default
//! "ns"). The first configuration in the file is the baseline every ratio is taken against
//! (scripts/bench writes `off` first); all of them come from one boot, so the ratios compare
//! like with like. PROFILE.txt is semguard.ko's sysfs `counters/profile` from the same run,
//! shown as a table in the same unit.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

mod plot;

mod profile;

/// The caveat that goes with every figure counted in guest instructions.
pub const ICOUNT_CAVEAT: &str = "Instructions are not cycles: a VM exit, a TLB flush or an IPI \
costs far more cycles on hardware than its instruction count says.";

/// One configuration × operation: the per-call cost of every repetition.
#[derive(Debug, Default, Clone)]
pub struct Cell {
    /// Cost per call (in the run's unit), one value per repetition, in file order.
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
    /// What a value counts: "guest instructions (QEMU icount)", "ns wall time (QEMU TCG)"…
    pub unit: String,
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
    let mut r = Results { unit: "ns".into(), ..Results::default() };
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(unit) = line.strip_prefix("# unit:") {
            r.unit = unit.trim().to_string();
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let [config, op, rep, ns] = f[..] else {
            return Err(format!(
                "line {}: expected 4 tab-separated fields (config op rep per_call), got {}",
                n + 1,
                f.len()
            ));
        };
        rep.parse::<u32>().map_err(|e| format!("line {}: repetition {rep:?}: {e}", n + 1))?;
        let ns = ns.parse::<u64>().map_err(|e| format!("line {}: per_call {ns:?}: {e}", n + 1))?;
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

/// Whether the run counted guest instructions (scripts/bench's default) rather than time.
pub fn is_icount(unit: &str) -> bool {
    unit.contains("icount")
}

/// Difference of two medians with its sign: "+23,724", "-12".
fn added(value: u64, base: u64) -> String {
    if value >= base {
        format!("+{}", thousands(value - base))
    } else {
        format!("-{}", thousands(base - value))
    }
}

/// A number with thousands separators, as the README's tables write them.
pub fn thousands(v: u64) -> String {
    let digits = v.to_string();
    let mut s = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            s.push(',');
        }
        s.push(ch);
    }
    s
}

/// The markdown table: one row per operation and configuration, preceded by what the figures
/// count.
pub fn table(r: &Results) -> String {
    let mut s = String::new();
    let base = r.configs.first().map(String::as_str).unwrap_or("");
    let _ = writeln!(s, "Cost per call in **{}**, median over repetitions, one boot.", r.unit);
    if is_icount(&r.unit) {
        let _ = writeln!(s, "{ICOUNT_CAVEAT}");
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| operation | configuration | median per call | min–max over runs | runs | added vs `{base}` | vs `{base}` |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|");
    for (o, op) in r.ops.iter().enumerate() {
        let base_median = r.cells.get(&(0, o)).and_then(Cell::median);
        for (c, config) in r.configs.iter().enumerate() {
            let Some(cell) = r.cells.get(&(c, o)) else { continue };
            let (Some(m), Some((lo, hi))) = (cell.median(), cell.range()) else { continue };
            let vs = base_median.map_or_else(|| "–".to_string(), |b| ratio(m, b));
            let plus = base_median.map_or_else(|| "–".to_string(), |b| added(m, b));
            let _ = writeln!(
                s,
                "| {op} | {config} | {} | {}–{} | {} | {plus} | {vs} |",
                thousands(m),
                thousands(lo),
                thousands(hi),
                cell.samples.len()
            );
        }
    }
    s
}

fn run(raw: &Path, out: &Path, profile: Option<&Path>) -> Result<(), String> {
    let text = std::fs::read_to_string(raw).map_err(|e| format!("{}: {e}", raw.display()))?;
    let r = parse(&text).map_err(|e| format!("{}: {e}", raw.display()))?;
    let mut md_text = table(&r);
    if let Some(p) = profile {
        let ptext = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let stages = profile::parse(&ptext).map_err(|e| format!("{}: {e}", p.display()))?;
        md_text.push('\n');
        md_text.push_str(&profile::table(&stages, &r.unit));
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let md = out.join("results.md");
    std::fs::write(&md, md_text).map_err(|e| format!("{}: {e}", md.display()))?;
    let svg = out.join("per-call.svg");
    plot::draw(&r, &svg)?;
    println!("{}\n{}", md.display(), svg.display());
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (raw, out, profile) = match &args[..] {
        [_, raw, out] => (raw, out, None),
        [_, raw, out, profile] => (raw, out, Some(Path::new(profile))),
        _ => {
            eprintln!("usage: semguard-bench-report RAW.tsv OUTDIR [PROFILE.txt]");
            return ExitCode::from(2);
        }
    };
    match run(Path::new(raw), Path::new(out), profile) {
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

    const RAW: &str = "# unit: guest instructions (QEMU icount)\n# config op rep per_call\n\
                       off\tgetppid\t1\t100\noff\tgetppid\t2\t120\noff\tgetppid\t3\t90\n\
                       semguard.ko\tgetppid\t1\t5000\nsemguard.ko\tgetppid\t2\t5400\n";

    #[test]
    fn medians_ranges_and_ratios() {
        let r = parse(RAW).unwrap();
        assert_eq!(r.configs, ["off", "semguard.ko"]);
        let off = &r.cells[&(0, 0)];
        assert_eq!(off.median(), Some(100));
        assert_eq!(off.range(), Some((90, 120)));
        assert_eq!(r.cells[&(1, 0)].median(), Some(5000));
        assert_eq!(r.unit, "guest instructions (QEMU icount)");
        let t = table(&r);
        assert!(t.contains("| getppid | off | 100 | 90–120 | 3 | +0 | 1.00× |"), "{t}");
        assert!(t.contains("| getppid | semguard.ko | 5,000 | 5,000–5,400 | 2 | +4,900 | 50.00× |"), "{t}");
        assert!(t.contains("**guest instructions (QEMU icount)**") && t.contains("not cycles"), "{t}");
    }

    #[test]
    fn wall_time_runs_carry_no_instruction_caveat() {
        let r = parse("off\tgetppid\t1\t100\nother\tgetppid\t1\t90\n").unwrap();
        assert_eq!(r.unit, "ns");
        let t = table(&r);
        assert!(!t.contains("not cycles"), "{t}");
        assert!(t.contains("| getppid | other | 90 | 90–90 | 1 | -10 | 0.90× |"), "{t}");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(24734), "24,734");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn ratio_rounds_without_floats() {
        assert_eq!(ratio(107, 100), "1.07×");
        assert_eq!(ratio(2, 3), "0.67×");
        assert_eq!(ratio(1, 0), "–");
    }

    #[test]
    fn bad_lines_are_named() {
        assert_eq!(
            parse("off\tgetppid\t1\n").unwrap_err(),
            "line 1: expected 4 tab-separated fields (config op rep per_call), got 3"
        );
        assert!(parse("off\tgetppid\tx\t5\n").unwrap_err().starts_with("line 1: repetition \"x\""));
        assert!(parse("off\tgetppid\t1\t-5\n").unwrap_err().starts_with("line 1: per_call \"-5\""));
        assert_eq!(parse("# nothing\n").unwrap_err(), "no measurements");
    }

    #[test]
    fn writes_both_files() {
        let dir = std::env::temp_dir().join(format!("sg-bench-report-{}", std::process::id()));
        let raw = dir.join("raw.tsv");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&raw, RAW).unwrap();
        let prof = dir.join("profile.txt");
        std::fs::write(&prof, profile::tests::SAMPLE).unwrap();
        run(&raw, &dir.join("out"), Some(&prof)).unwrap();
        let svg = std::fs::read_to_string(dir.join("out/per-call.svg")).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("getppid") && svg.contains("semguard.ko"));
        assert!(svg.contains("guest instructions"), "the plot names its unit");
        let md = std::fs::read_to_string(dir.join("out/results.md")).unwrap();
        assert!(md.contains("50.00×") && md.contains("| response | 7,584 |"), "{md}");
        assert!(run(&raw, &dir.join("out2"), Some(&dir.join("missing.txt"))).unwrap_err().contains("missing.txt"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
