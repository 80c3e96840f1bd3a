//! semguard-core: the part of semguard that runs both inside `semguard.ko` (compiled by Kbuild
//! with the kernel's rustc) and in host tools and tests.
//!
//! `#![no_std]`, no `alloc`, no floating point. Everything read from the monitored guest is
//! hostile input: every loop over guest data is bounded and every failure is a value.
//!
//! Vocabulary follows the paper:
//! - **Introspection Library**: [`regs`], [`syscall`], [`addr`], [`walker`], [`tcache`],
//!   [`mem`], [`vmem`], [`profile`], [`process`], [`vma`] — reading the monitored VM.
//! - **Assertion Checker**: [`policy`], [`eval`], [`checker`] ([`crc`] for the policy checksum) — pairing each system call with
//!   its invariant and deciding; [`decision`]: one trapped call → the action and the response,
//!   the same for every consumer; [`tracking`]: following P (phases, the filter Xen gets).
//! - [`alert`]: the alert record semguard.ko reports per violation (`/dev/semguard`).
//! - [`xen_abi`]: the vm_event request/response layout shared with the patched Xen; [`ring`]:
//!   the consumer's half of its ring.
//! - `wire` (crate-private): fixed little-endian records, each layout stated once — the codec
//!   behind the policy format, the alert record, the guest-kernel profile and the Xen ABI.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod addr;
pub mod alert;
pub mod checker;
pub mod crc;
pub mod decision;
pub mod eval;
#[cfg(any(test, feature = "testing"))]
pub mod fuzzing;
pub mod lineage;
pub mod mem;
pub mod policy;
pub mod process;
pub mod profile;
pub mod regs;
pub mod ring;
pub mod syscall;
pub mod syscall_names;
pub mod tcache;
pub mod tracking;
pub mod vma;
pub mod vmem;
pub mod walker;
pub(crate) mod wire;
pub mod xen_abi;
