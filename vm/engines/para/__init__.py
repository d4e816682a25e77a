"""para: the guest's text translated to native code with Numba (see engine.py)."""

import os

# numpy's OpenBLAS starts a pool of threads that spin on the host's cores; the engine does no linear
# algebra, so one thread is enough and leaves the cores to the guest.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
