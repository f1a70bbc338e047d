"""Model stages (one small file each) and the assembled network."""

from .config import ModelConfig
from .ms2d import MS2D
from .registry import create_model, list_models, model_config

__all__ = ["MS2D", "ModelConfig", "create_model", "list_models", "model_config"]
