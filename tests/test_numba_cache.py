"""numba's on-disk cache never runs stale machine code after a kernel file changes.

numba checks only the file that defines a cached function; cnnlib's kernels
stamp their cache with a hash of every kernel file instead
(``cnnlib/functional/_kernel_cache.py``). The end-to-end test copies the
package to a temporary folder, fills its cache in a fresh process, edits a
*helper* in another file (``split_phases``, which ``max_pool`` compiles into
itself), and checks in another fresh process that the new code runs.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

import cnnlib
from cnnlib.functional import (_kernel_cache, _numba_conv, _numba_depthwise, _numba_elementwise, _numba_gemm,
                              _numba_layout, _numba_norm, _numba_pool, _numba_scatter, _numba_wgrad)

PACKAGE = Path(cnnlib.__file__).resolve().parent
KERNEL_MODULES = (_numba_conv, _numba_depthwise, _numba_elementwise, _numba_gemm, _numba_layout, _numba_norm,
                  _numba_pool, _numba_scatter, _numba_wgrad)

# Max-pools a fixed plane in a fresh process; prints the result and whether
# max_pool's machine code came from the disk cache.
CHILD = r"""
import json
import numpy as np
import cnnlib
from cnnlib.functional import max_pool2d, _numba_pool
x = np.arange(32.0).reshape(1, 2, 4, 4)
y = max_pool2d(x, 2, stride=1, backend="numba")  # the general kernel (2x2 windows of stride 2 have their own)
stats = _numba_pool.max_pool.stats
print(json.dumps({"package": cnnlib.__file__, "y": y.tolist(), "hits": sum(stats.cache_hits.values()),
                  "misses": sum(stats.cache_misses.values())}))
"""


def _run(root: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE")}
    env["PYTHONPATH"] = str(root)
    out = subprocess.run([sys.executable, "-c", CHILD], cwd=root, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(report["package"]).resolve().parent == (root / "cnnlib").resolve()  # the copy, not the repo
    return report


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A copy of cnnlib without its caches, importable from the returned folder."""
    shutil.copytree(PACKAGE, tmp_path / "cnnlib", ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    return tmp_path


def test_an_edited_helper_in_another_file_is_recompiled(package_copy: Path):
    x = np.arange(32.0).reshape(1, 2, 4, 4)
    expected = np.lib.stride_tricks.sliding_window_view(x, (2, 2), axis=(2, 3)).max(axis=(4, 5))  # 2x2, stride 1

    first = _run(package_copy)
    assert first["misses"] == 1 and first["hits"] == 0
    assert np.array_equal(first["y"], expected)
    second = _run(package_copy)  # the cache works: loaded, not compiled
    assert second["hits"] == 1 and second["misses"] == 0
    assert np.array_equal(second["y"], expected)

    # Edit only the helper, in _numba_layout.py: max_pool's own file is unchanged.
    layout = package_copy / "cnnlib" / "functional" / "_numba_layout.py"
    source = layout.read_text()
    copy_line = "target[v] = source[v * sw]"
    assert source.count(copy_line) == 1
    layout.write_text(source.replace(copy_line, "target[v] = source[v * sw] + 100.0"))
    third = _run(package_copy)
    assert third["misses"] == 1 and third["hits"] == 0, "stale machine code was loaded from the cache"
    assert np.array_equal(third["y"], expected + 100.0)

    layout.write_text(source)  # and back: the original code runs again
    fourth = _run(package_copy)
    assert np.array_equal(fourth["y"], expected)


def test_every_kernel_is_stamped_with_the_hash_of_all_kernel_files():
    stamp = ("cnnlib", _kernel_cache.sources_hash())
    kernels = [value for module in KERNEL_MODULES for value in vars(module).values()
               if isinstance(value, CPUDispatcher) and value.__module__ == module.__name__]
    assert len(kernels) >= 20
    for kernel in kernels:
        assert kernel._cache._cache_file._source_stamp == stamp, kernel.__name__


def test_the_hash_covers_every_kernel_file_and_changes_with_any(tmp_path: Path, monkeypatch):
    names = {path.name for path in _kernel_cache.kernel_files()}
    assert names == {f"{m.__name__.rsplit('.', 1)[1]}.py" for m in KERNEL_MODULES} | {"_kernel_cache.py"}
    for path in _kernel_cache.kernel_files():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(_kernel_cache, "_HERE", tmp_path)
    monkeypatch.setattr(_kernel_cache, "__file__", str(tmp_path / "_kernel_cache.py"))
    hashes = []
    for name in sorted(names):
        _kernel_cache.sources_hash.cache_clear()
        before = _kernel_cache.sources_hash()
        (tmp_path / name).write_text((tmp_path / name).read_text() + "\n# edited\n")
        _kernel_cache.sources_hash.cache_clear()
        hashes.append(_kernel_cache.sources_hash())
        assert hashes[-1] != before, name
    _kernel_cache.sources_hash.cache_clear()
    assert len(set(hashes)) == len(names)


# Third-party and standard modules a kernel file may import: numba's own stack
# (llvmlite builds the register blocks) and modules whose code never ends up
# inside a kernel (os reads the vector-width switch at import).
ALLOWED_IMPORTS = {"__future__", "numpy", "numba", "llvmlite", "hashlib", "functools", "pathlib", "os"}


def test_kernel_modules_import_only_numpy_numba_and_each_other():
    """The hash is sound only if no kernel compiles code from a file outside it."""
    allowed_relative = {path.stem for path in _kernel_cache.kernel_files()}
    for path in _kernel_cache.kernel_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] in ALLOWED_IMPORTS, f"{path.name} imports {alias.name}"
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    assert node.level == 1 and node.module in allowed_relative, f"{path.name} imports .{node.module}"
                else:
                    assert node.module.split(".")[0] in ALLOWED_IMPORTS, f"{path.name} imports {node.module}"
