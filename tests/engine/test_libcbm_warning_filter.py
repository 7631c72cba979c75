"""libcbm's "untested linux distribution" RuntimeWarning is hidden once the engine is imported; nothing else is.

libcbm warns on every run on a Linux other than Ubuntu 22.04/24.04 (this machine is Debian). The check runs in
a fresh interpreter with every warning shown (`-W always`), because pytest resets the warning filters per test
and pyproject's filterwarnings already hides this message inside the suite.
"""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import warnings
import flintcloud.engine.libcbm_engine  # installs the filter
from libcbm import resources

resources.get_libcbm_bin_path()  # warns on Debian and other untested distributions
libcbm_msg = "untested linux distribution: {'NAME': 'Debian GNU/Linux', 'VERSION_ID': '12'}"
# the same message and category from libcbm.resources, as libcbm emits it: hidden
warnings.warn_explicit(libcbm_msg, RuntimeWarning, "resources/__init__.py", 108, module="libcbm.resources")
# anything else stays visible: another message from libcbm.resources, the message from another module,
# the message with another category
warnings.warn_explicit("other libcbm problem", RuntimeWarning, "resources/__init__.py", 1, module="libcbm.resources")
warnings.warn_explicit(libcbm_msg, RuntimeWarning, "mine.py", 2, module="mypackage.mine")
warnings.warn_explicit(libcbm_msg, UserWarning, "resources/__init__.py", 3, module="libcbm.resources")
"""


def test_only_libcbms_untested_distribution_warning_is_hidden():
    proc = subprocess.run([sys.executable, "-W", "always", "-c", SCRIPT], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    shown = [line for line in proc.stderr.splitlines() if "Warning:" in line]
    assert shown == [
        "resources/__init__.py:1: RuntimeWarning: other libcbm problem",
        "mine.py:2: RuntimeWarning: untested linux distribution: {'NAME': 'Debian GNU/Linux', 'VERSION_ID': '12'}",
        "resources/__init__.py:3: UserWarning: untested linux distribution: {'NAME': 'Debian GNU/Linux', "
        "'VERSION_ID': '12'}",
    ], proc.stderr
