// SPDX-License-Identifier: GPL-2.0

//! The policy blob: read from /lib/firmware, copied into memory the module owns, decoded and
//! validated once by semguard-core. Only the validated copy is ever used, so a file changed
//! after loading cannot change what was checked.

use core::fmt;

use kernel::prelude::*;
use semguard_core::policy::{DefaultAction, Policy, PolicyError, PolicyLayout};
use semguard_core::profile::{Profile, ProfileError};

use crate::ffi::FirmwareFile;

/// Largest policy blob accepted (the static tool's policies are a few KiB).
pub(crate) const POLICY_MAX: usize = 4 << 20;

/// Why a policy could not be loaded.
#[derive(Debug)]
pub(crate) enum LoadError {
    /// The file could not be read (errno from the firmware loader; ENOENT: no such file).
    Read(Error),
    /// The file is larger than [`POLICY_MAX`].
    TooLarge,
    /// No memory for the copy.
    NoMemory,
    /// semguard-core rejected the blob.
    Invalid(PolicyError),
}

impl LoadError {
    /// The errno insmod reports.
    pub(crate) fn errno(&self) -> Error {
        match self {
            LoadError::Read(e) => *e,
            LoadError::TooLarge => EFBIG,
            LoadError::NoMemory => ENOMEM,
            LoadError::Invalid(_) => EINVAL,
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // request_firmware also says ENOENT for an empty file.
            LoadError::Read(e) if *e == ENOENT => f.write_str("no such file in /lib/firmware (or it is empty)"),
            LoadError::Read(e) => write!(f, "cannot read it from /lib/firmware: error {}", e.to_errno()),
            LoadError::TooLarge => write!(f, "larger than {POLICY_MAX} bytes"),
            LoadError::NoMemory => f.write_str("out of memory for its copy"),
            LoadError::Invalid(e) => write!(f, "rejected: {e}"),
        }
    }
}

/// A validated policy: the blob and where everything is in it.
pub(crate) struct LoadedPolicy {
    blob: KVVec<u8>,
    layout: PolicyLayout,
}

impl LoadedPolicy {
    /// Reads /lib/firmware/`name`, keeps a copy and validates it.
    pub(crate) fn load(name: &CStr) -> Result<Self, LoadError> {
        let file = FirmwareFile::load(name, POLICY_MAX).map_err(|e| {
            if e == EFBIG {
                LoadError::TooLarge
            } else {
                LoadError::Read(e)
            }
        })?;
        let loaded = Self::from_bytes(file.bytes());
        drop(file);
        loaded
    }

    /// Copies `bytes` and validates the copy (the blob written to /dev/semguard goes here too).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, LoadError> {
        if bytes.len() > POLICY_MAX {
            return Err(LoadError::TooLarge);
        }
        let mut blob = KVVec::with_capacity(bytes.len(), GFP_KERNEL).map_err(|_| LoadError::NoMemory)?;
        blob.extend_from_slice(bytes, GFP_KERNEL).map_err(|_| LoadError::NoMemory)?;
        let layout = Policy::decode(&blob).map_err(LoadError::Invalid)?.layout();
        Ok(Self { blob, layout })
    }

    /// The policy, re-attached to its bytes (cheap: no re-validation).
    pub(crate) fn policy(&self) -> Option<Policy<'_>> {
        self.layout.attach(&self.blob)
    }
}

/// Why a policy's guest-kernel profile cannot be used to find P.
#[derive(Debug)]
pub(crate) enum ProfileProblem {
    /// The policy has no KernelProfile section.
    Missing,
    /// The section does not decode.
    Invalid(ProfileError),
    /// P's identity is relative to a load base (a PIE), but the profile does not say where the
    /// kernel keeps a process's auxiliary vector, from which the base is read.
    RelativeIdentity,
}

impl fmt::Display for ProfileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileProblem::Missing => f.write_str(
                "has no guest-kernel profile, which finding P needs (semguard profile; semguard policy compile --profile)",
            ),
            ProfileProblem::Invalid(e) => write!(f, "its guest-kernel profile is invalid: {e:?}"),
            ProfileProblem::RelativeIdentity => f.write_str(
                "P is position-independent, but its guest-kernel profile has no mm_struct.saved_auxv to read a process's load base from (profile made by an older semguard: run semguard profile again)",
            ),
        }
    }
}

/// The guest-kernel profile embedded in `p` (task_struct/mm_struct offsets, init_task), once
/// `p` says nothing about P that finding P could not check.
pub(crate) fn profile_of(p: &Policy<'_>) -> Result<Profile, ProfileProblem> {
    let bytes = p.kernel_profile().ok_or(ProfileProblem::Missing)?;
    let profile = Profile::decode(bytes).map_err(ProfileProblem::Invalid)?;
    let places = profile.vma_layout().is_some_and(|v| v.auxv_words != 0);
    if p.identity().is_some_and(|id| id.relative()) && !places {
        return Err(ProfileProblem::RelativeIdentity);
    }
    Ok(profile)
}

/// One line describing a policy for the kernel log.
pub(crate) struct Summary<'a>(pub(crate) &'a Policy<'a>);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0;
        let (major, minor) = p.version();
        write!(
            f,
            "id={:#x} format={major}.{minor} bytes={} crc={:#010x} rules={} invariants={} constants={}",
            p.policy_id(),
            p.bytes().len(),
            p.checksum(),
            p.rule_count(),
            p.invariant_count(),
            p.constants().len(),
        )?;
        match p.automaton() {
            Some(a) => write!(f, " automaton={}/{}", a.states(), a.transition_count())?,
            None => f.write_str(" automaton=none")?,
        }
        let default = match p.default_action() {
            DefaultAction::Allow => "allow",
            DefaultAction::Deny => "deny",
        };
        write!(f, " default={default}")?;
        if p.deny_other_abis() {
            f.write_str(" deny-other-abis")?;
        }
        match p.kernel_profile() {
            Some(k) => write!(f, " profile={}B", k.len())?,
            None => f.write_str(" profile=none")?,
        }
        // Recorded by `semguard policy compile`: what makes a process P (README, "Who P is").
        match p.identity() {
            Some(id) => {
                f.write_str(" build-id=")?;
                for b in id.build_id() {
                    write!(f, "{b:02x}")?;
                }
                if id.relative() {
                    // Offsets from the load base of each process (a position-independent P).
                    write!(f, "@base+{:#x} pie(entry base+{:#x})", id.note_vaddr(), id.entry())
                } else {
                    write!(f, "@{:#x}", id.note_vaddr())
                }
            }
            None => f.write_str(" build-id=none"),
        }
    }
}
