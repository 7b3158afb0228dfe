"""The shipped model family, by name (in the manner of timm's registry and pretrained configs).

Each shipped model is one file, ``denseface/weights/<name>.json``, beside its weights: its card
(the ``"card"`` mapping, a :class:`ModelCard`: the files in ``denseface/weights`` (ONNX for
inference, with the preprocessing config stored inside the file; a torch checkpoint where one
is shipped for fine-tuning), its backbone and initialisation, its licence, a summary and whether
it is the package default) and its measured numbers beside the card, written by
``benchmarks/model_family.py`` (val and AFLW2000-3D accuracy, network speed), so ``denseface
models`` never prints a hand-typed figure. Shipping a model is that file plus its weights: the
registry reads every card in the folder.
"""
from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError
from pydantic.dataclasses import dataclass

from ..errors import DenseFaceError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
#: Model files by suffix: ONNX Runtime, or torch checkpoints (denseface.models.runners.open_runner).
ONNX_SUFFIXES = (".onnx",)
TORCH_SUFFIXES = (".pt", ".pth", ".ckpt")
MODEL_SUFFIXES = ONNX_SUFFIXES + TORCH_SUFFIXES
#: The key of the card inside weights/<name>.json (the other keys are the measured figures).
CARD_KEY = "card"


@dataclass(frozen=True, config={"extra": "forbid", "strict": True})
class ModelCard:
    """One shipped model. ``name``: the card file's stem; ``onnx`` / ``checkpoint``: file names in
    WEIGHTS_DIR ("" = none); ``input_size``: the crop side in pixels; ``default``: the package
    default (exactly one card says so)."""

    name: str
    onnx: str
    checkpoint: str
    backbone: str
    input_size: int
    initialisation: str
    licence: str
    summary: str
    default: bool = False

    @property
    def onnx_path(self) -> Path:
        return WEIGHTS_DIR / self.onnx

    @property
    def checkpoint_path(self) -> Path | None:
        return WEIGHTS_DIR / self.checkpoint if self.checkpoint else None

    @property
    def card_path(self) -> Path:
        return WEIGHTS_DIR / f"{self.name}.json"

    def results(self) -> dict:
        """The measured numbers (benchmarks/model_family.py), {} when not measured yet."""
        d = json.loads(self.card_path.read_text())
        return {k: v for k, v in d.items() if k not in (CARD_KEY, "name")}


def read_card(path: Path) -> ModelCard | None:
    """The card of ``path`` (weights/<name>.json), None when it holds none; DenseFaceError
    naming the file and the key for a bad one."""
    try:
        card = json.loads(Path(path).read_text()).get(CARD_KEY)
    except (OSError, ValueError, AttributeError) as e:
        raise DenseFaceError(f"cannot read this model card ({type(e).__name__})", path=path) from None
    if card is None:
        return None
    try:
        return ModelCard(name=Path(path).stem, **card)
    except (ValidationError, TypeError) as e:
        err = e.errors()[0] if isinstance(e, ValidationError) else {"loc": (), "msg": str(e)}
        key = ".".join(str(p) for p in err["loc"])
        raise DenseFaceError(f"model card key '{key}': {err['msg']}", path=path) from None


def read_cards(folder: Path = WEIGHTS_DIR) -> dict[str, ModelCard]:
    """Every shipped model's card in ``folder``, by name (sorted)."""
    cards = (read_card(p) for p in sorted(Path(folder).glob("*.json")))
    return {c.name: c for c in cards if c is not None}


def write_results(card: ModelCard, results: dict) -> Path:
    """Write a model's measured numbers into its card file, the card kept (the one writer of
    weights/<name>.json besides the card's author)."""
    from ..io.files import atomic_write

    card_json = json.loads(card.card_path.read_text())[CARD_KEY]
    doc = {"name": card.name, CARD_KEY: card_json, **{k: v for k, v in results.items() if k not in (CARD_KEY, "name")}}
    return atomic_write(card.card_path, (json.dumps(doc, indent=1) + "\n").encode())


#: The shipped models by name, read from their cards.
MODELS: dict[str, ModelCard] = read_cards()
#: The package default: the model whose card says ``"default": true`` (the best aflw_pl val
#: NME21, docs/MODEL_CARD.md).
DEFAULT_MODEL = next((n for n, c in MODELS.items() if c.default), None)


def get_model(name: str | None = None) -> ModelCard:
    """The card of ``name`` (None: the default); one-line error for an unknown name."""
    key = name or DEFAULT_MODEL
    if key is None:
        raise DenseFaceError(f"no model card in {WEIGHTS_DIR} says \"default\": true (known: "
                             f"{', '.join(MODELS) or 'none'})")
    if key not in MODELS:
        raise DenseFaceError(f"unknown model '{key}' (known: {', '.join(MODELS)}; or pass a .onnx/.pt path)")
    return MODELS[key]


def resolve_model_path(model: str | Path | None) -> Path:
    """A registry name (or None = the default) -> its ONNX file; a path is returned as is."""
    if model is None or (isinstance(model, str) and model in MODELS):
        entry = get_model(model)
        if not entry.onnx_path.is_file():
            raise DenseFaceError(f"model '{entry.name}' is missing from this install",
                                 path=entry.onnx_path)
        return entry.onnx_path
    p = Path(model)
    if isinstance(model, str) and p.suffix not in MODEL_SUFFIXES and not p.exists():
        get_model(model)   # raises the unknown-name error
    return p
