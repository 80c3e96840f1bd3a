//! x86-64 guest page-table walker (Introspection Library).

/// Why a translation failed, and at which level (5 = PML5, 4 = PML4, 3 = PDPT, 2 = PD,
/// 1 = PT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkError {
    /// Paging level whose entry (or table) caused the failure.
    pub level: u8,
    /// What went wrong there.
    pub kind: WalkErrorKind,
}

/// What went wrong at one level of a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkErrorKind {
    /// The entry's present bit is clear.
    NotPresent,
    /// The table frame could not be read.
    Frame(crate::mem::FrameError),
}
