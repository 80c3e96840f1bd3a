//! semguard.ko's per-stage profile (sysfs `counters/profile`, ivm-module/semguard-ko/README.md) as a table.
//! The module times its stages with ktime; under QEMU icount those "ns" are guest instructions,
//! so the table carries the run's unit, not the file's field names.

use std::fmt::Write as _;

/// One timed stage: `NAME count=… min_ns=… median_ns=… mean_ns=… max_ns=… total_ns=…`.
#[derive(Debug, PartialEq, Eq)]
pub struct Stage {
    pub name: String,
    pub count: u64,
    pub min: u64,
    pub median: u64,
    pub mean: u64,
    pub max: u64,
}

/// The profile: timed stages, in file order, and the lines that are not stages (the clock's
/// own cost, untimed counts), kept as notes.
#[derive(Debug, Default)]
pub struct Profile {
    pub stages: Vec<Stage>,
    pub notes: Vec<String>,
}

fn field(fields: &[(&str, &str)], key: &str, line: usize) -> Result<u64, String> {
    let (_, v) = fields.iter().find(|(k, _)| *k == key).ok_or_else(|| format!("line {line}: stage without {key}="))?;
    v.parse().map_err(|e| format!("line {line}: {key}={v:?}: {e}"))
}

/// Parses the sysfs text; a stage line with a missing or malformed field is an error.
pub fn parse(text: &str) -> Result<Profile, String> {
    let mut p = Profile::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let name = words.next().unwrap_or_default();
        let fields: Vec<(&str, &str)> = words.filter_map(|w| w.split_once('=')).collect();
        let timed = !name.contains('=') && fields.iter().any(|(k, _)| *k == "min_ns");
        if !timed {
            p.notes.push(line.to_string());
            continue;
        }
        p.stages.push(Stage {
            name: name.to_string(),
            count: field(&fields, "count", n + 1)?,
            min: field(&fields, "min_ns", n + 1)?,
            median: field(&fields, "median_ns", n + 1)?,
            mean: field(&fields, "mean_ns", n + 1)?,
            max: field(&fields, "max_ns", n + 1)?,
        });
    }
    if p.stages.is_empty() {
        return Err("no timed stage in the profile".into());
    }
    Ok(p)
}

/// The markdown section: one row per stage, in `unit`.
pub fn table(p: &Profile, unit: &str) -> String {
    use crate::thousands as t;
    let mut s = String::new();
    let _ = writeln!(s, "semguard.ko's event path per stage (sysfs `counters/profile`), in **{unit}**:");
    let _ = writeln!(s);
    let _ = writeln!(s, "| stage | count | min | median (bucket) | mean | max |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
    for st in &p.stages {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            st.name,
            t(st.count),
            t(st.min),
            t(st.median),
            t(st.mean),
            t(st.max)
        );
    }
    if !p.notes.is_empty() {
        let _ = writeln!(s);
        for note in &p.notes {
            let _ = writeln!(s, "- `{note}`");
        }
    }
    s
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub const SAMPLE: &str = "clock_ns=497 (one ktime reading; one per stage boundary)\n\
        median_ns: lower bound of the histogram bucket (4 per power of two) holding the median\n\
        ring count=7584 min_ns=2226 median_ns=2560 mean_ns=4031 max_ns=750348 total_ns=30576739\n\
        frame_hit count=8283 (not timed: inside decode/eval/find)\n\
        response count=7584 min_ns=9002 median_ns=10240 mean_ns=14803 max_ns=2447852 total_ns=112267478\n\
        translations=1520 walks=1520 answered_after_notify=11\n";

    #[test]
    fn stages_and_notes() {
        let p = parse(SAMPLE).unwrap();
        assert_eq!(p.stages.len(), 2);
        assert_eq!(
            p.stages[1],
            Stage { name: "response".into(), count: 7584, min: 9002, median: 10240, mean: 14803, max: 2447852 }
        );
        assert_eq!(p.notes.len(), 4, "{:?}", p.notes);
        let t = table(&p, "guest instructions (QEMU icount)");
        assert!(t.contains("| ring | 7,584 | 2,226 | 2,560 | 4,031 | 750,348 |"), "{t}");
        assert!(t.contains("**guest instructions (QEMU icount)**") && t.contains("`frame_hit count=8283"), "{t}");
    }

    #[test]
    fn malformed_stages_are_named() {
        assert_eq!(
            parse("ring count=1 min_ns=2 median_ns=x mean_ns=1 max_ns=1\n").unwrap_err(),
            "line 1: median_ns=\"x\": invalid digit found in string"
        );
        assert_eq!(
            parse("ring count=1 min_ns=2 median_ns=2 max_ns=1\n").unwrap_err(),
            "line 1: stage without mean_ns="
        );
        assert_eq!(parse("clock_ns=4\n").unwrap_err(), "no timed stage in the profile");
    }
}
