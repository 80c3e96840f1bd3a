//! "A deny is final": a call an any-site rule denies (`syscall execve deny;`, `syscall class
//! exec deny;`) stays denied at every call site.
//!
//! Site rules replace the any-site rules of their call at their site (the rule table's
//! semantics, which the kernel implements), so without this a site rule — `syscall execve at
//! X allow;`, or the `allow` inference writes for a site whose number it could not resolve —
//! would re-allow the denied call there. The compiler adds the any-site deny to every site
//! rule of the call, as it adds `single_writer`'s invariants: the site's other rules still
//! apply, and the deny makes the call a violation whatever they say.
//!
//! Why add rather than refuse: a class deny (`syscall class exec deny;`) and a site rule that
//! lists many calls (inference's unresolved sites) overlap for good reasons — the deny is
//! meant to win, silently. A site rule that names only the denied call (`syscall execve at X
//! allow;` or `{ … }`) contradicts the deny outright: the compiler warns, since its author
//! most likely meant something else, and the deny still wins.

use std::collections::{BTreeMap, BTreeSet};

use semguard_core::syscall::Abi;

use crate::diag::{Diag, Span};
use crate::ir::{InvBody, PolicyIr, RuleAct, RuleIr};

/// A site rule that names one call explicitly (not through a class, not in a list) and is
/// not itself a deny: where it is, for the warning.
#[derive(Clone, Debug)]
pub struct ExplicitSiteRule {
    /// ABI of the call.
    pub abi: Abi,
    /// Number of the call.
    pub nr: u32,
    /// The rule in the source.
    pub span: Span,
    /// How the call is written (`execve`).
    pub call: String,
}

/// Adds every any-site deny to the site rules of its call; returns a warning per explicit
/// site rule that a deny overrides.
pub fn apply(out: &mut PolicyIr, explicit: &[ExplicitSiteRule]) -> Vec<Diag> {
    // The first any-site deny of each call.
    let mut deny: BTreeMap<(Abi, u32), usize> = BTreeMap::new();
    for r in out.rules.iter().filter(|r| r.site.is_none()) {
        if let RuleAct::Check(i) = r.act {
            if out.invariants[i].body == InvBody::Deny {
                deny.entry((r.abi, r.nr)).or_insert(i);
            }
        }
    }
    if deny.is_empty() {
        return Vec::new();
    }
    // Sites that already deny the call.
    let denied_at: BTreeSet<(Abi, u32, u64)> = out
        .rules
        .iter()
        .filter_map(|r| match (r.site, r.act) {
            (Some(s), RuleAct::Check(i)) if out.invariants[i].body == InvBody::Deny => Some((r.abi, r.nr, s)),
            _ => None,
        })
        .collect();
    let sites: BTreeSet<(Abi, u32, u64)> = out
        .rules
        .iter()
        .filter_map(|r| Some((r.abi, r.nr, r.site?)))
        .filter(|k| deny.contains_key(&(k.0, k.1)) && !denied_at.contains(k))
        .collect();
    for &(abi, nr, site) in &sites {
        out.rules.push(RuleIr { abi, nr, site: Some(site), act: RuleAct::Check(deny[&(abi, nr)]) });
    }
    let mut warnings = Vec::new();
    for e in explicit {
        let Some(&inv) = deny.get(&(e.abi, e.nr)) else { continue };
        warnings.push(Diag::new(
            e.span,
            format!(
                "`{}` is denied for every site (`{}`, a deny is final), so this site rule does not allow it",
                e.call, out.invariants[inv].name
            ),
        ));
    }
    warnings
}
