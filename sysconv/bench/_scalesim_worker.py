"""Run SCALE-Sim jobs in this process: ``python -m sysconv.bench._scalesim_worker JOBS.json``.

Each job names a ``.cfg``, a topology and a layout file and the folder for the reports.

NumPy >= 2.4 raises ``TypeError`` where SCALE-Sim 3.0.0 calls ``int(max(list of 1-element
arrays))`` (``double_buffered_scratchpad_mem.py`` and ``read_buffer.py``; upstream issue
scalesim-project/SCALE-Sim#160, fix proposed in #162). The two modules get a ``max`` that
returns the single element of a 1-element array result, which is what ``int()`` used to do.
"""

import builtins
import json
import sys


def _max(*args, **kwargs):
    import numpy as np

    result = builtins.max(*args, **kwargs)
    if isinstance(result, np.ndarray) and result.size == 1:
        return result.reshape(-1)[0]
    return result


def main(path):
    import scalesim.memory.double_buffered_scratchpad_mem as scratchpad
    import scalesim.memory.read_buffer as read_buffer
    from scalesim.scale_sim import scalesim

    scratchpad.max = _max
    read_buffer.max = _max
    for job in json.loads(open(path).read()):
        sim = scalesim(
            save_disk_space=True,
            verbose=False,
            config=job["config"],
            topology=job["topology"],
            layout=job["layout"],
        )
        sim.run_scale(top_path=job["out"])


if __name__ == "__main__":
    main(sys.argv[1])
