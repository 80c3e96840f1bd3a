//! Bodies of the fuzz targets, shared by `fuzz/` (libFuzzer, nightly) and by the host test
//! `tests/fuzz_smoke.rs`, which runs them over random inputs on every `cargo test` so a target
//! that no longer builds or panics on easy input is caught without a fuzzer.
//!
//! Each body takes arbitrary bytes and must never panic.

use crate::mem::flat::FlatMemory;
use crate::syscall::decode;
use crate::xen_abi::{build_response, kill_response, VmEventSt, VM_EVENT_SIZE};

/// Hostile vm_event requests: decode the ring slot, decode the syscall (reading the stacked
/// argument from hostile memory), and build the responses.
pub fn vm_event(data: &[u8]) {
    let (slot, rest) = data.split_at(data.len().min(VM_EVENT_SIZE));
    let Ok(req) = VmEventSt::from_bytes(slot) else { return };
    let _ = build_response(&req, None);
    let _ = kill_response(&req, 9);
    let Ok(ev) = req.syscall_event() else { return };
    let d = decode(ev.entry, &ev.regs);
    // Whatever the registers point at, P's stack is the rest of the input.
    let mut mem = FlatMemory::<2>::new();
    let sp = ev.regs.rsp & 0xffff_ffff;
    let _ = mem.write(sp, rest);
    let _ = d.complete(&mut mem);
    let _ = d.vdso32_return_address(&mut mem);
    let mut out = [0u8; VM_EVENT_SIZE];
    let _ = req.to_bytes(&mut out);
}
