/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Between xenabi.c (compiled against the patched Xen public headers) and xen.c (Linux's Xen
 * headers): only the hypercall. Nothing here repeats a Xen size or constant: xenabi.c uses
 * Xen's own structs, and the numbers Rust passes in are semguard-core's (xen_abi.rs), checked
 * against the same headers there.
 */
#ifndef SEMGUARD_XENABI_H
#define SEMGUARD_XENABI_H

/* xen.c: issues the domctl hypercall on a filled struct xen_domctl; 0 or a negative errno. */
int sg_xen_domctl(void *buf);

#endif
