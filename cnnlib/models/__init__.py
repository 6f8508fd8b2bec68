"""Models: SimpleConvNet (Saito 2016), LeNet-5, AlexNet, GoogLeNet, VGG, ResNet, MobileNet, and ``summary``.

Each model is a :class:`cnnlib.layers.Sequential` (GoogLeNet adds Inception
blocks and optional auxiliary classifiers), seeded, float32 by default.
"""

from .alexnet import AlexNet
from .googlenet import INCEPTION_TABLE, AuxClassifier, GoogLeNet
from .inception import Inception
from .lenet import LeNet5
from .mobilenet import MobileNetV1
from .resnet import ResNet, ResNet18, ResNet34, ResNet50
from .simple import SimpleConvNet
from .summary import Summary, summary
from .vgg import VGG, VGG11, VGG16

__all__ = ["SimpleConvNet", "LeNet5", "AlexNet", "GoogLeNet", "Inception", "AuxClassifier", "INCEPTION_TABLE",
           "summary", "Summary", "VGG", "VGG11", "VGG16", "ResNet", "ResNet18", "ResNet34", "ResNet50",
           "MobileNetV1"]
