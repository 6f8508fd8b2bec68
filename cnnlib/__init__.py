"""cnnlib: the library behind the course on convolutional neural networks.

Read it top-down: :mod:`cnnlib.shapes` (convolution arithmetic),
:mod:`cnnlib.im2col`, :mod:`cnnlib.functional` (conv and pooling, three
backends), :mod:`cnnlib.layers`, :mod:`cnnlib.models`, :mod:`cnnlib.train`;
beside them :mod:`cnnlib.data`, :mod:`cnnlib.viz`, :mod:`cnnlib.gradcheck`
and :mod:`cnnlib.exercises`.
"""

from ._backend import Backend, get_backend, register_backend, registered_backends, set_backend, use_backend

__version__ = "0.1.0"
__all__ = ["Backend", "get_backend", "register_backend", "registered_backends", "set_backend", "use_backend",
           "__version__"]
