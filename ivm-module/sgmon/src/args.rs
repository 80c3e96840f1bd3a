//! Command line of `sgmon`.

use crate::domctl::bitmap_set;
use semguard_core::decision::{self, Enforcement, FailMode};
use semguard_core::xen_abi::{
    ring_pages_for, ring_slots, MONITOR_SYSCALL_BITMAP_BYTES, MONITOR_SYSCALL_NR_IA32, RING_MAX_PAGES,
};
use std::fmt;

/// Usage text (printed on `--help` and on errors).
pub const USAGE: &str = "\
usage: sgmon [OPTIONS] DOMID MODE
Consumer of the PV system-call monitor (xen-patches) in dom0. Output lines start with 'SGMON '.
MODE:
  watch   one EVENT line per selected call, each answered at once
  count   as watch without EVENT lines (summary only)
  kill    rewrite the trigger call (--at/--on-nr) to exit_group(--status)
  hold    never answer the trigger call (teardown tests); others are answered
  off     disable a ring a killed consumer left (XEN_VM_EVENT_DISABLE) and exit
  check   evaluate --policy FILE.sgp on every selected call (the Assertion Checker, guest
          memory through foreign mappings); a VERDICT line for each call it does not allow
  enforce as check, and rewrite those calls to exit_group(--status) (a call whose invariant
          cannot be decided too, unless --fail open)
Process (default --any):
  --any               every process of the domain (pgd mask 0)
  --pgd ADDR          the process whose page-table base (event cr3) is ADDR
  --latch NR[:ARG1]   --any until a 64-bit call NR (with first argument ARG1) arrives, then
                      only that caller's page-table base; the marker call itself is not counted
  --latch32 NR[:ARG1] the same for an ia32 call (int $0x80, sysenter, compat syscall)
  --comm NAME         every call is reported until, at one of them, the guest's task list
                      (walked from that caller's page tables with the guest-kernel profile)
                      has a process NAME; then only its page-table base (its calls from then
                      on; for a fresh exec that is all but its first)
  --profile FILE      guest-kernel profile (semguard profile vmlinux System.map) for --comm;
                      default: the one embedded in --policy
Numbers (default: every number, no bitmap):
  --nr LIST           64-bit numbers, comma-separated (repeatable)
  --nr32 LIST         ia32 numbers
Trigger for kill/hold:
  --at K              the K-th selected call (1-based)
  --on-nr N | --on-nr32 N   every selected call with this 64-bit / ia32 number
  --status S          exit status for kill/enforce (default 1)
Policy:
  --policy FILE       compiled policy (semguard policy compile) for check/enforce
Failure (as semguard.ko's fail=):
  --fail closed|open  closed (default): a call Xen cannot report (ring full, no consumer) is
                      killed with status 137, and enforce kills a call it cannot decide;
                      open: both run
  --fail-open         the same as --fail open
Ring:
  --ring-pages N|auto pages of the monitor's ring: 1, 2, 4, 8 or 16 (8, 16, 32, 64 or 128
                      slots; xen-patches 0017 for more than 1). Each vCPU waiting in a reported
                      call holds a slot, and Xen refuses the monitor (ENOSPC) on a ring with
                      fewer slots than the domain has vCPUs. Default auto: the fewest pages
                      that hold a request of every vCPU (XEN_DOMCTL_getdomaininfo)
Signals: TERM/INT stop (monitor and ring disabled, DONE line), USR1 disables the monitor,
USR2 enables it again.";

/// What to do with selected calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Print and answer.
    Watch,
    /// Count and answer.
    Count,
    /// Kill the trigger call.
    Kill,
    /// Hold the trigger call.
    Hold,
    /// Disable a stale ring.
    Off,
    /// Evaluate the policy, report.
    Check,
    /// Evaluate the policy, kill what it does not allow.
    Enforce,
}

/// Which process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Select {
    /// Every process.
    Any,
    /// One page-table base.
    Pgd(u64),
    /// Learn the page-table base from a marker call.
    Latch(CallSpec, Option<u64>),
    /// Learn it from the guest's task list (process name).
    Comm,
}

/// A call number in one ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallSpec {
    /// ia32 (any of the three 32-bit entries) rather than 64-bit SYSCALL.
    pub ia32: bool,
    /// The number.
    pub nr: u32,
}

impl CallSpec {
    /// Its bit in the monitor's number bitmap.
    pub fn bit(self) -> usize {
        self.nr as usize + if self.ia32 { MONITOR_SYSCALL_NR_IA32 } else { 0 }
    }
}

/// Which call kill/hold act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The K-th selected call (1-based).
    At(u64),
    /// Every selected call with this number.
    Nr(CallSpec),
}

/// Why the command line was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgError {
    /// `-h`/`--help`: print the usage, succeed.
    Help,
    /// Not a valid command line (the message says why).
    Invalid(String),
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Help => f.write_str("help requested"),
            Self::Invalid(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ArgError {}

impl From<String> for ArgError {
    fn from(why: String) -> Self {
        Self::Invalid(why)
    }
}

impl From<&str> for ArgError {
    fn from(why: &str) -> Self {
        Self::Invalid(why.to_string())
    }
}

/// Parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Target domain.
    pub domid: u16,
    /// Mode.
    pub mode: Mode,
    /// Process selection.
    pub select: Select,
    /// Number bitmap, `None` = every number.
    pub bitmap: Option<[u8; MONITOR_SYSCALL_BITMAP_BYTES]>,
    /// kill/hold trigger.
    pub trigger: Option<Trigger>,
    /// exit_group status for kill.
    pub status: i32,
    /// Fail closed or open: Xen's filter flag for calls it cannot report, and what enforce
    /// does with a call it cannot decide.
    pub fail: FailMode,
    /// Policy file for check/enforce.
    pub policy: Option<String>,
    /// Process name for `Select::Comm`.
    pub comm: Option<String>,
    /// Guest-kernel profile file for `--comm`.
    pub profile: Option<String>,
    /// `--ring-pages`: pages of the monitor ring; `None` = as many as the domain's vCPUs need.
    pub ring_pages: Option<usize>,
}

impl Config {
    /// How check/enforce map a call that does not pass to an action (semguard-core's one
    /// mapping): check only reports (audit), enforce kills. `None` in the other modes.
    pub fn enforcement(&self) -> Option<Enforcement> {
        let mode = match self.mode {
            Mode::Check => decision::Mode::Audit,
            Mode::Enforce => decision::Mode::Enforce,
            Mode::Watch | Mode::Count | Mode::Kill | Mode::Hold | Mode::Off => return None,
        };
        Some(Enforcement { mode, fail: self.fail })
    }

    /// Pages of the ring for a domain of `vcpus` vCPUs: `--ring-pages`, or the fewest that
    /// hold a request of each vCPU. A ring too small for the domain is not refused here: Xen
    /// refuses it at monitor enable (ENOSPC, [`enospc_hint`]).
    pub fn ring_pages(&self, vcpus: u32) -> Result<usize, String> {
        match self.ring_pages {
            Some(p) => Ok(p),
            None => ring_pages_for(vcpus as usize).ok_or_else(|| {
                format!(
                    "the domain has {vcpus} vCPUs: more than the largest ring holds ({} pages, {} slots)",
                    RING_MAX_PAGES,
                    ring_slots(RING_MAX_PAGES)
                )
            }),
        }
    }
}

/// The hint of a monitor enable that failed with ENOSPC: the ring of `pages` pages has fewer
/// slots than the domain has vCPUs; which `--ring-pages` would do.
pub fn enospc_hint(pages: usize, vcpus: u32) -> String {
    let slots = ring_slots(pages);
    let need = match ring_pages_for(vcpus as usize) {
        Some(p) => format!("--ring-pages {p}"),
        None => format!("more than {RING_MAX_PAGES} pages"),
    };
    let unit = if pages == 1 { "page" } else { "pages" };
    format!("the ring has fewer slots than the domain has vCPUs: {pages} {unit} = {slots} slots, {vcpus} vCPUs; {need}")
}

fn parse_ring_pages(v: &str) -> Result<Option<usize>, String> {
    if v == "auto" {
        return Ok(None);
    }
    match v.parse::<usize>() {
        Ok(p) if p.is_power_of_two() && p <= RING_MAX_PAGES => Ok(Some(p)),
        _ => Err(format!("--ring-pages '{v}': 1, 2, 4, 8, 16 or auto")),
    }
}

fn parse_u64(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse::<u64>(),
    };
    r.map_err(|_| format!("not a number: '{s}'"))
}

fn parse_nr(s: &str, ia32: bool) -> Result<CallSpec, String> {
    let nr = parse_u64(s)?;
    if nr >= MONITOR_SYSCALL_NR_IA32 as u64 {
        return Err(format!("system-call number {nr} out of range (0..{MONITOR_SYSCALL_NR_IA32})"));
    }
    Ok(CallSpec { ia32, nr: nr as u32 })
}

fn parse_latch(s: &str, ia32: bool) -> Result<Select, String> {
    let (nr, arg) = match s.split_once(':') {
        Some((n, a)) => (n, Some(parse_u64(a)?)),
        None => (s, None),
    };
    Ok(Select::Latch(parse_nr(nr, ia32)?, arg))
}

/// Parses `args` (without the program name).
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Config, ArgError> {
    let mut it = args.into_iter();
    let mut pos = Vec::new();
    let mut select = None;
    let mut bitmap: Option<[u8; MONITOR_SYSCALL_BITMAP_BYTES]> = None;
    let mut trigger = None;
    let mut status = 1i32;
    let mut fail = FailMode::Closed;
    let mut policy = None;
    let mut comm = None;
    let mut profile = None;
    let mut ring_pages = None;
    let mut ring_pages_given = false;
    let set_select = |cur: &mut Option<Select>, s: Select| {
        if cur.replace(s).is_some() {
            Err("give only one of --any, --pgd, --latch, --latch32, --comm".to_string())
        } else {
            Ok(())
        }
    };
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Err(ArgError::Help),
            "--any" => set_select(&mut select, Select::Any)?,
            "--pgd" => {
                let v = parse_u64(&val("--pgd")?)?;
                set_select(&mut select, Select::Pgd(v))?
            }
            "--latch" => set_select(&mut select, parse_latch(&val("--latch")?, false)?)?,
            "--latch32" => set_select(&mut select, parse_latch(&val("--latch32")?, true)?)?,
            "--nr" | "--nr32" => {
                let ia32 = a == "--nr32";
                let list = val(&a)?;
                let bm = bitmap.get_or_insert([0; MONITOR_SYSCALL_BITMAP_BYTES]);
                for n in list.split(',').filter(|s| !s.is_empty()) {
                    // In range by parse_nr, so the bit exists.
                    bitmap_set(bm, parse_nr(n, ia32)?.bit());
                }
            }
            "--at" => {
                let k = parse_u64(&val("--at")?)?;
                if k == 0 {
                    return Err("--at counts from 1".into());
                }
                trigger = Some(Trigger::At(k));
            }
            "--on-nr" => trigger = Some(Trigger::Nr(parse_nr(&val("--on-nr")?, false)?)),
            "--on-nr32" => trigger = Some(Trigger::Nr(parse_nr(&val("--on-nr32")?, true)?)),
            "--status" => {
                let v = val("--status")?;
                status = v.parse().map_err(|_| format!("bad --status '{v}'"))?;
            }
            "--fail" => {
                fail = match val("--fail")?.as_str() {
                    "closed" => FailMode::Closed,
                    "open" => FailMode::Open,
                    v => return Err(format!("--fail '{v}': closed or open").into()),
                }
            }
            "--fail-open" => fail = FailMode::Open,
            "--policy" => policy = Some(val("--policy")?),
            "--profile" => profile = Some(val("--profile")?),
            "--ring-pages" => {
                ring_pages = parse_ring_pages(&val("--ring-pages")?)?;
                ring_pages_given = true;
            }
            "--comm" => {
                let name = val("--comm")?;
                // TASK_COMM_LEN 16: at most 15 bytes are compared (the kernel truncates).
                if name.is_empty() || name.len() > 15 || name.contains('\0') {
                    return Err(format!("--comm '{name}': 1 to 15 bytes").into());
                }
                comm = Some(name);
                set_select(&mut select, Select::Comm)?
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}").into()),
            _ => pos.push(a),
        }
    }
    let [domid, mode] = <[String; 2]>::try_from(pos).map_err(|_| "expected DOMID MODE".to_string())?;
    let domid: u16 = domid.parse().map_err(|_| format!("bad DOMID '{domid}'"))?;
    if domid == 0 || domid >= crate::domctl::DOMID_SELF {
        return Err(format!("DOMID {domid} is not a guest domain").into());
    }
    let mode = match mode.as_str() {
        "watch" => Mode::Watch,
        "count" => Mode::Count,
        "kill" => Mode::Kill,
        "hold" => Mode::Hold,
        "off" => Mode::Off,
        "check" => Mode::Check,
        "enforce" => Mode::Enforce,
        m => return Err(format!("unknown mode '{m}'").into()),
    };
    match (mode, &policy) {
        (Mode::Check | Mode::Enforce, None) => return Err("check and enforce need --policy FILE".into()),
        (Mode::Check | Mode::Enforce, Some(_)) => {}
        (_, Some(_)) => return Err("--policy only applies to check and enforce".into()),
        (_, None) => {}
    }
    match (mode, trigger) {
        (Mode::Kill | Mode::Hold, None) => return Err("kill and hold need --at K or --on-nr N".into()),
        (Mode::Watch | Mode::Count | Mode::Off | Mode::Check | Mode::Enforce, Some(_)) => {
            return Err("--at/--on-nr only apply to kill and hold".into());
        }
        _ => {}
    }
    if profile.is_some() && comm.is_none() {
        return Err("--profile only applies to --comm".into());
    }
    if ring_pages_given && mode == Mode::Off {
        return Err("--ring-pages does not apply to off (it makes no ring)".into());
    }
    Ok(Config {
        domid,
        mode,
        select: select.unwrap_or(Select::Any),
        bitmap,
        trigger,
        status,
        fail,
        policy,
        comm,
        profile,
        ring_pages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domctl::bitmap_test;

    fn p(s: &str) -> Result<Config, String> {
        parse(s.split_whitespace().map(String::from)).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let c = p("3 watch").unwrap();
        assert_eq!(
            c,
            Config {
                domid: 3,
                mode: Mode::Watch,
                select: Select::Any,
                bitmap: None,
                trigger: None,
                status: 1,
                fail: FailMode::Closed,
                policy: None,
                comm: None,
                profile: None,
                ring_pages: None
            }
        );
    }

    #[test]
    fn ring_pages() {
        assert_eq!(p("1 watch").unwrap().ring_pages, None, "auto by default");
        assert_eq!(p("1 --ring-pages auto watch").unwrap().ring_pages, None);
        for n in [1, 2, 4, 8, 16] {
            assert_eq!(p(&format!("1 --ring-pages {n} watch")).unwrap().ring_pages, Some(n));
        }
        for bad in ["0", "3", "32", "-1", "x", "0x2"] {
            let e = p(&format!("1 --ring-pages {bad} watch")).unwrap_err();
            assert!(e.contains("1, 2, 4, 8, 16 or auto"), "{bad}: {e}");
        }
        assert!(p("1 --ring-pages").unwrap_err().contains("needs a value"));
        assert!(p("1 --ring-pages 2 off").unwrap_err().contains("off"));
        // auto: the fewest pages that hold a request of every vCPU.
        let auto = p("1 watch").unwrap();
        let got: Vec<_> = [1, 8, 9, 12, 16, 17, 64, 128].iter().map(|&v| auto.ring_pages(v).unwrap()).collect();
        assert_eq!(got, [1, 1, 2, 2, 2, 4, 8, 16]);
        assert!(auto
            .ring_pages(129)
            .unwrap_err()
            .contains("129 vCPUs: more than the largest ring holds (16 pages, 128 slots)"));
        // Given: as given, also when too small (Xen says so: ENOSPC).
        assert_eq!(p("1 --ring-pages 1 watch").unwrap().ring_pages(12), Ok(1));
    }

    #[test]
    fn enospc_hints() {
        assert_eq!(
            enospc_hint(1, 12),
            "the ring has fewer slots than the domain has vCPUs: 1 page = 8 slots, 12 vCPUs; --ring-pages 2"
        );
        assert_eq!(
            enospc_hint(2, 40),
            "the ring has fewer slots than the domain has vCPUs: 2 pages = 16 slots, 40 vCPUs; --ring-pages 8"
        );
        assert!(enospc_hint(16, 200).ends_with("200 vCPUs; more than 16 pages"));
    }

    #[test]
    fn bitmap_from_both_halves() {
        let c = p("1 --nr 110,1 --nr32 64 --nr 231 count").unwrap();
        let bm = c.bitmap.unwrap();
        for bit in [110, 1, 231, MONITOR_SYSCALL_NR_IA32 + 64] {
            assert!(bitmap_test(&bm, bit), "bit {bit}");
        }
        assert!(!bitmap_test(&bm, 64) && !bitmap_test(&bm, MONITOR_SYSCALL_NR_IA32 + 110));
        assert_eq!(bm.iter().map(|b| b.count_ones()).sum::<u32>(), 4);
        assert!(p(&format!("1 --nr {MONITOR_SYSCALL_NR_IA32} watch")).unwrap_err().contains("out of range"));
        assert!(p("1 --nr32 x watch").is_err());
    }

    #[test]
    fn selections() {
        assert_eq!(p("1 --pgd 0x3ead1000 watch").unwrap().select, Select::Pgd(0x3ead_1000));
        assert_eq!(
            p("1 --latch 24:0x5347 watch").unwrap().select,
            Select::Latch(CallSpec { ia32: false, nr: 24 }, Some(0x5347))
        );
        assert_eq!(p("1 --latch32 158 watch").unwrap().select, Select::Latch(CallSpec { ia32: true, nr: 158 }, None));
        assert_eq!(CallSpec { ia32: true, nr: 158 }.bit(), 670);
        assert!(p("1 --any --pgd 0x1000 watch").is_err());
        let c = p("1 --comm sysseq --profile g.prof watch").unwrap();
        assert_eq!((c.select, c.comm.as_deref(), c.profile.as_deref()), (Select::Comm, Some("sysseq"), Some("g.prof")));
        assert!(p("1 --comm a_very_long_name_x watch").is_err());
        assert!(p("1 --comm x --latch 24 watch").is_err());
        assert!(p("1 --profile g.prof watch").is_err());
    }

    #[test]
    fn triggers_and_modes() {
        let c = p("2 --at 3 --status 42 kill").unwrap();
        assert_eq!((c.mode, c.trigger, c.status), (Mode::Kill, Some(Trigger::At(3)), 42));
        let c = p("2 --on-nr32 64 hold").unwrap();
        assert_eq!(c.trigger, Some(Trigger::Nr(CallSpec { ia32: true, nr: 64 })));
        assert!(p("2 kill").is_err());
        assert!(p("2 --at 0 kill").is_err());
        assert!(p("2 --at 1 watch").is_err());
        assert_eq!(p("2 off").unwrap().mode, Mode::Off);
        assert!(p("2 frob").is_err());
        assert!(p("0 watch").is_err());
        assert!(p("watch").is_err());
        assert!(p("1 watch --bogus").is_err());
        assert!(p("1 --pgd").unwrap_err().contains("needs a value"));
        assert_eq!(p("1 --fail-open watch").unwrap().fail, FailMode::Open);
        let c = p("1 --latch 24:0x5347 --policy /p/x.sgp --status 137 enforce").unwrap();
        assert_eq!((c.mode, c.policy.as_deref(), c.status), (Mode::Enforce, Some("/p/x.sgp"), 137));
        assert_eq!(p("1 --policy x.sgp check").unwrap().mode, Mode::Check);
        assert!(p("1 check").unwrap_err().contains("--policy"));
        assert!(p("1 --policy x.sgp watch").is_err());
    }

    #[test]
    fn fail_mode_and_enforcement() {
        use semguard_core::decision::Mode as DMode;
        assert_eq!(p("1 --fail open watch").unwrap().fail, FailMode::Open);
        assert_eq!(p("1 --fail closed watch").unwrap().fail, FailMode::Closed);
        assert!(p("1 --fail shut watch").unwrap_err().contains("closed or open"));
        assert_eq!(p("1 watch").unwrap().enforcement(), None);
        let c = p("1 --policy x.sgp enforce").unwrap();
        assert_eq!(c.enforcement(), Some(Enforcement::DEFAULT), "enforce fails closed by default");
        let c = p("1 --policy x.sgp --fail-open enforce").unwrap();
        assert_eq!(c.enforcement(), Some(Enforcement { mode: DMode::Enforce, fail: FailMode::Open }));
        let c = p("1 --policy x.sgp check").unwrap();
        assert_eq!(c.enforcement().map(|e| e.mode), Some(DMode::Audit), "check only reports");
    }

    #[test]
    fn help_is_not_an_error_message() {
        assert_eq!(parse(["--help".to_string()]), Err(ArgError::Help));
        assert_eq!(parse(["1".to_string()]), Err(ArgError::Invalid("expected DOMID MODE".into())));
    }
}
