"""How a console process gives memory back. Whole-directory work (a snapshot, a reconciliation at 100,000 users)
runs in phases that each allocate and free tens of megabytes; by default Arrow's pool (mimalloc) and the C heap
keep what was freed, so the phases' leftovers add up and the process peaks well above what it holds at any time.

- ``use_returning_arrow_pool()`` (called once by ``open_context``): Arrow allocates from the system allocator,
  and on glibc every block of 1 MB or more is mapped on its own (a fixed mmap threshold), so it goes back to the
  system when freed. Measured on a 100,000-user reconciliation (``python -m bench reconcile``): peak RSS 443 MB
  with mimalloc, about 390 MB with the system allocator, 353 MB with the fixed threshold as well, same wall time
  within noise; the Users page at 100,000 users (``python -m bench dashboard``): 413 -> 371 MB.
- ``release_memory()`` between phases: Python's cycles, Arrow's unused pages and, on glibc, the C heap's free
  pages.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from typing import Any

import pyarrow as pa


def use_returning_arrow_pool() -> None:
    """Make the system allocator Arrow's default pool (buffers allocated before stay where they are)."""
    pool = pa.system_memory_pool()
    if pa.default_memory_pool().backend_name != pool.backend_name:
        pa.set_memory_pool(pool)
    if _LIBC is not None and hasattr(_LIBC, "mallopt"):
        # glibc raises its mmap threshold each time a large block is freed (up to 32 MB), after which such
        # blocks come from the heap and stay with the process: a fixed threshold keeps them mapped and returned
        _LIBC.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)


def release_memory() -> None:
    """Give what a finished phase freed back to the system before the next phase allocates."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _glibc() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()
_M_MMAP_THRESHOLD = -3          # glibc's mallopt parameter number
_MMAP_THRESHOLD = 1 << 20       # blocks of 1 MB and more are mapped (and unmapped when freed)
