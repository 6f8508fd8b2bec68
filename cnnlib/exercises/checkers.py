"""The checkers: one plain function per exercise, ``check_<name>(fn) -> None``.

Each prints one line, ``check_<name>: all N cases passed``, or raises
AssertionError with the failing case and a hint. Being plain functions that
raise, they work as they are in notebooks, pytest, nbgrader and otter-grader.
"""

from __future__ import annotations

from typing import Any, Callable

from ._core import Exercise, TOLERANCE, run_checker
from .catalog import EXERCISES, by_name


def _make_checker(exercise: Exercise) -> Callable[[Callable[..., Any]], None]:
    def checker(fn: Callable[..., Any]) -> None:
        run_checker(exercise, fn)

    checker.__name__ = checker.__qualname__ = exercise.checker_name
    checker.__module__ = "cnnlib.exercises"
    checker.__doc__ = (
        f"Check a learner's implementation of {exercise.summary} (chapter {exercise.chapter}).\n\n"
        f"Expected function: ``{exercise.signature}``.\n\n"
        f"Runs `fn` on {len(exercise.make_cases())} seeded cases and compares with cnnlib in float64 "
        f"(relative error below {TOLERANCE:.0e}). Prints one line on success; raises AssertionError "
        f"naming the case and, when it recognises it, the mistake ({len(exercise.mistakes)} diagnosed)."
    )
    return checker


check_dense_params = _make_checker(by_name("dense_params"))
check_conv1d = _make_checker(by_name("conv1d"))
check_correlate2d = _make_checker(by_name("correlate2d"))
check_convolve2d = _make_checker(by_name("convolve2d"))
check_conv_output_size = _make_checker(by_name("conv_output_size"))
check_pad2d = _make_checker(by_name("pad2d"))
check_conv2d_forward = _make_checker(by_name("conv2d_forward"))
check_conv_layer_params = _make_checker(by_name("conv_layer_params"))
check_im2col = _make_checker(by_name("im2col"))
check_col2im = _make_checker(by_name("col2im"))
check_max_pool2d = _make_checker(by_name("max_pool2d"))
check_max_pool2d_backward = _make_checker(by_name("max_pool2d_backward"))
check_conv1d_backward_dw = _make_checker(by_name("conv1d_backward_dw"))
check_conv2d_backward = _make_checker(by_name("conv2d_backward"))
check_relu_backward = _make_checker(by_name("relu_backward"))
check_softmax_cross_entropy = _make_checker(by_name("softmax_cross_entropy"))
check_inception_params = _make_checker(by_name("inception_params"))
check_output_shapes = _make_checker(by_name("output_shapes"))
check_batchnorm_forward = _make_checker(by_name("batchnorm_forward"))
check_batchnorm_backward = _make_checker(by_name("batchnorm_backward"))
check_bottleneck_params = _make_checker(by_name("bottleneck_params"))
check_basic_block_forward = _make_checker(by_name("basic_block_forward"))
check_separable_macs = _make_checker(by_name("separable_macs"))
check_conv_transpose_output_size = _make_checker(by_name("conv_transpose_output_size"))
check_conv_transpose1d = _make_checker(by_name("conv_transpose1d"))

CHECKERS: dict[str, Callable[[Callable[..., Any]], None]] = {
    e.checker_name: globals()[e.checker_name] for e in EXERCISES
}

__all__ = [e.checker_name for e in EXERCISES] + ["CHECKERS"]
