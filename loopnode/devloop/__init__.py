"""devloop: a local Learning Loop emulator (loop-protocol.md §11) for development, demos and tests."""
from .seed import DEMO_MODELS, DEMO_ORG, DEMO_PROJECT, add_model_format
from .server import DevLoop

__all__ = ['DEMO_MODELS', 'DEMO_ORG', 'DEMO_PROJECT', 'DevLoop', 'add_model_format']
