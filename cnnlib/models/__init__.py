"""Models: SimpleConvNet (Saito 2016), LeNet-5, AlexNet and GoogLeNet, and ``summary``.

Each model is a :class:`cnnlib.layers.Sequential` (GoogLeNet adds Inception
blocks and optional auxiliary classifiers), seeded, float32 by default.
"""

from .alexnet import AlexNet
from .googlenet import INCEPTION_TABLE, AuxClassifier, GoogLeNet
from .inception import Inception
from .lenet import LeNet5
from .simple import SimpleConvNet
from .summary import Summary, summary

__all__ = ["SimpleConvNet", "LeNet5", "AlexNet", "GoogLeNet", "Inception", "AuxClassifier", "INCEPTION_TABLE",
           "summary", "Summary"]
