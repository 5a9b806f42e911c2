"""Wire data records of the Loop protocol with strict ``from_dict`` and ordered ``to_dict``.

Inbound rules (loop-protocol §1): unknown keys ignored, missing required field or wrong type raises
`DataError` naming the field path, missing optional field becomes ``None``, ints accepted for floats,
integral floats accepted for ints (fractional ones only with ``round_ints=True``, rounded), bools and
strings never accepted as numbers. Outbound: every field present in spec table order, enums as strings.
"""
from .detections import (BoxAnnotation, BoxDetection, ClassificationAnnotation, ClassificationDetection,
                         Detections, ImageMetadata, ImagesMetadata, Point, PointAnnotation, PointDetection,
                         SegmentationAnnotation, SegmentationDetection, Shape, flatten_shape, parse_shape)
from .enums import (AnnotationEventType, Autoupload, CategoryType, ImageSet, ImageState, NodeState, OperationMode,
                    OutboxMode, VersionMode)
from .fields import DataError
from .models import (AboutResponse, Category, Context, DeploymentTarget, ModelInformation, ModelListEntry,
                     ModelVersionResponse, PretrainedModel)
from .status import (AnnotationData, AnnotationNodeStatus, Coordinate, DetectorStatus, SocketResponse,
                     TrainingDetails, TrainingOut, TrainingStateData, TrainingStatus, UserInput)

__all__ = [
    "AboutResponse", "AnnotationData", "AnnotationEventType", "AnnotationNodeStatus", "Autoupload",
    "BoxAnnotation", "BoxDetection", "Category", "CategoryType", "ClassificationAnnotation",
    "ClassificationDetection", "Context", "Coordinate", "DataError", "DeploymentTarget", "Detections",
    "DetectorStatus", "ImageMetadata", "ImageSet", "ImageState", "ImagesMetadata", "ModelInformation",
    "ModelListEntry", "ModelVersionResponse", "NodeState", "OperationMode", "OutboxMode", "Point",
    "PointAnnotation", "PointDetection", "PretrainedModel", "SegmentationAnnotation", "SegmentationDetection",
    "Shape", "SocketResponse", "TrainingDetails", "TrainingOut", "TrainingStateData", "TrainingStatus",
    "UserInput", "VersionMode", "flatten_shape", "parse_shape",
]
