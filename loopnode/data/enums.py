"""String enums of the wire protocol (loop-protocol §8.1, §8.3).

Member names follow upstream learning_loop_node (``NodeState.Online``) so logic ports stay mechanical;
the values are what goes on the wire.
"""
from __future__ import annotations

from enum import Enum


class NodeState(str, Enum):
    """State a node reports; detectors and annotators always report ``online``."""

    Idle = "idle"
    Offline = "offline"
    Online = "online"
    Preparing = "preparing"
    Running = "running"
    Stopping = "stopping"
    Detecting = "detecting"
    Uploading = "uploading"


class OperationMode(str, Enum):
    """Detector operation mode (detector §8.1)."""

    Startup = "startup"
    Idle = "idle"
    Detecting = "detecting"


class VersionMode(str, Enum):
    """How the detector chooses its model version (detector §7.1)."""

    FollowLoop = "follow_loop"
    SpecificVersion = "specific_version"
    Pause = "pause"


class OutboxMode(str, Enum):
    """Whether the detector's outbox uploads (detector §9.8)."""

    CONTINUOUS_UPLOAD = "continuous_upload"
    STOPPED = "stopped"


class Autoupload(str, Enum):
    """Which detection results the detector queues for upload (detector §10)."""

    Filtered = "filtered"
    All = "all"
    Disabled = "disabled"


class CategoryType(str, Enum):
    """Kind of annotation a category is used for."""

    Box = "box"
    Point = "point"
    Segmentation = "segmentation"
    Classification = "classification"


class ImageSet(str, Enum):
    """Data set an image belongs to."""

    Train = "train"
    Test = "test"
    Val = "val"


class ImageState(str, Enum):
    """Loop state of an image; ``trash`` is only used as an upload target."""

    Inbox = "inbox"
    Annotate = "annotate"
    Review = "review"
    Complete = "complete"
    Trash = "trash"


class AnnotationEventType(str, Enum):
    """User input event kinds sent to the annotator (loop-protocol §8.3)."""

    LeftMouseDown = "left_mouse_down"
    RightMouseDown = "right_mouse_down"
    MouseMove = "mouse_move"
    LeftMouseUp = "left_mouse_up"
    RightMouseUp = "right_mouse_up"
    KeyUp = "key_up"
    KeyDown = "key_down"
