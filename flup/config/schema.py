"""The typed schema of params.yaml: one frozen pydantic model per section, every key with its type and range.

Every model refuses unknown keys (``extra="forbid"``), NaN and infinity (``allow_inf_nan=False``) and
silent conversions (``strict=True``: ``"5"`` is not an integer, ``5.0`` is not one either, ``true`` is
not a number). Each constrained value carries an :class:`Expect`, the words an error message uses for
it (:mod:`flup.config.loader` turns validation errors into ``params.yaml:<line>: <key>: expected …``).

Keys that params.yaml always holds are required (params.yaml is the one place their values live);
optional keys (digests, caps, newer keys) have the defaults written here. The tables ``datasets``,
``variants`` and ``attackers`` are validated entry by entry, overrides included: a variant's
``train:`` and an attacker's ``attack:`` are checked against the same field types as the sections
they override, and :meth:`Study.train_settings` / :meth:`Study.attacker` merge them.

Obfuscation levels (``render.obfuscations``, ``evaluate.roc_levels``, ``plot.gallery_levels``, a
variant's σ range, an attacker's level range) are checked by the registry the obfuscations themselves
use, :mod:`flup.obfuscation.families`: finite, and bounded for face photos of a few hundred pixels
(LFW 250 x 250 px, CelebA 178 x 218 px): σ <= 128 px and blocks <= 256 px, beyond which a face box is one
flat colour and larger values only cost time (σ = 1e5 never finished, 1e9 made OpenCV raise); the
tool presets are relative to the face box and bounded at a few face sizes.
"""

from __future__ import annotations

import difflib
import math
import re
import types
import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, create_model, model_validator
from pydantic_core import PydanticCustomError

from flup.audit.tool import CommandTool, TemplateError
from flup.config.params import PARAMS_FILE, ConfigError, Path_, location
from flup.obfuscation import families


class Expect:
    """What a value must be, in words: Annotated metadata the error messages use."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"Expect({self.text!r})"


_UNSHOWN = object()


def problem(message: str, at: str | tuple[str, ...] | None = None, value: Any = _UNSHOWN) -> PydanticCustomError:
    """A validation error in our own words (``expected …``); ``at`` names the key below the raising
    model that the error is about (its line is reported), ``value`` the value found there."""
    if at is None:
        return PydanticCustomError("flup", message)
    context: dict[str, Any] = {"at": (at,) if isinstance(at, str) else tuple(at)}
    if value is not _UNSHOWN:
        context["value"] = value
    return PydanticCustomError("flup", message, context)


def integer(expect: str, **bounds: Any) -> Any:
    return Annotated[int, Field(**bounds), Expect(expect)]


def number(expect: str, **bounds: Any) -> Any:
    return Annotated[float, Field(**bounds), Expect(expect)]


def _digest(value: Any) -> Any:
    # YAML reads an all-digit digest written without quotes as an integer; the loader keeps the
    # scalar's original text on such numbers (leading zeros included), so the digest is read back as written.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = getattr(value, "text", str(value))
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", value.strip()):
        raise problem("not a digest")
    return value.strip().lower()


# --- value types ---------------------------------------------------------------------------------

PositiveInt = integer("an integer >= 1", ge=1)
Count = integer("an integer >= 0", ge=0)
PairCount = integer("an integer >= 1", ge=1)
Seed = integer("an integer >= 0", ge=0)
Seeds = Annotated[list[Seed], Field(min_length=1),
                  Expect("a list of training seeds, e.g. [0] or [0, 1, 2] (each trains a replica)")]
BatchSize = integer("an integer >= 1", ge=1)
Epochs = integer("an integer >= 1", ge=1)
Workers = integer("an integer in [1, 256] (processes)", ge=1, le=256)
Processes = integer("an integer in [1, 64] (torchrun processes, one per GPU)", ge=1, le=64)
LoaderWorkers = integer("an integer in [0, 256] (0 = load in the training process)", ge=0, le=256)
Fraction = number("a number in (0, 1)", gt=0, lt=1)
Share = number("a number in [0, 1]", ge=0, le=1)
LearningRate = number("a number in (0, 1]", gt=0, le=1)
Positive = number("a finite number > 0", gt=0)
# A region below 1 leaves the face's rim sharp, a question worth asking; above 10 the clipped box is the whole
# image for any face photo, so larger factors would only repeat it.
Region = number("a box scale factor: a finite number > 0 and <= 10", gt=0, le=10)
NonNegative = number("a finite number >= 0", ge=0)
SizeMB = number("a size in MB, a finite number > 0", gt=0)
# Pillow refuses to read the header of an image over 2 x 89,478,485 pixels (its decompression-bomb limit), so a
# cap above 1e8 could not be checked.
ImagePixels = integer("an integer in [1, 100000000] (pixels: width x height)", ge=1, le=100_000_000)
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000  # 50 megapixels: a large camera photo
MinPairs = integer("an integer >= 1 (pairs of each kind)", ge=1)
DEFAULT_MIN_PAIRS_PER_LABEL = 10  # an AUC or accuracy over fewer same-person or different-person pairs says little
Text = Annotated[str, Field(min_length=1), Expect("a non-empty string")]
Digest = Annotated[str, BeforeValidator(_digest), Expect("a sha256 digest: 64 hex characters (any case)")]
Device = Annotated[str, Field(pattern=r"^(auto|cpu|mps|cuda(:[0-9]+)?)$"),
                   Expect("auto, cpu, cuda, cuda:<index> or mps")]
Mode = Literal["end_to_end", "oracle_box"]
RayAddress = Annotated[str, Field(pattern=r"^(auto|ray://[^\s/:]+(:[0-9]+)?|[^\s/:]+:[0-9]+)$"),
                       Expect("null, auto, ray://<host>[:<port>] or <host>:<port>")]
FaceRule = Literal["central", "largest_central", "annotated"]

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


class Section(BaseModel):
    """Base of every section: frozen, strict, no unknown keys, no NaN or infinity."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def overrides_of(model: type[BaseModel]) -> type[BaseModel]:
    """The same keys as ``model``, each optional: what an entry of a table may override.

    Each given key is validated with the section's own type and range; ``model_fields_set``
    (``model_dump(exclude_unset=True)``) tells the given keys from the absent ones.
    """
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            annotation = overrides_of(annotation)
        elif info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]
        fields[name] = (annotation, Field(default=None, description=info.description))
    return create_model(f"{model.__name__}Overrides", __base__=Section, __doc__=f"Overrides of {model.__name__}.",
                        **fields)


def _given(overrides: BaseModel | None) -> dict:
    return {} if overrides is None else overrides.model_dump(exclude_unset=True)


def _merge(base: dict, overlay: dict) -> dict:
    return {**base, **{k: _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
                       for k, v in overlay.items()}}


# --- sections ------------------------------------------------------------------------------------


class ExtraSource(Section):
    location: Text = Field(description="a local folder, a .tgz/.zip archive or an https URL")
    sha256: Digest | None = Field(None, description="required for URLs; checked for local archives when given")


class Data(Section):
    """Where LFW comes from and how much of it is used."""

    source: Text = Field(description="a local folder (LFW layout), a local .tgz/.zip, or an https URL")
    sha256: Digest | None = Field(None, description="required for URLs, checked for local archives when given")
    extra_sources: list[ExtraSource] = Field([], description="more sources, e.g. pair files downloaded separately")
    max_people: integer("null or an integer >= 2", ge=2) | None = Field(
        None, description="small-subset mode: keep at most this many people (whole pairs kept)")
    max_download_mb: SizeMB = Field(20000.0, description="cap on one download (LFW's .tgz is 0.2 GB)")
    max_member_mb: SizeMB = Field(64.0, description="cap on one archive member (an LFW or CelebA image is < 1 MB)")
    max_extract_mb: SizeMB = Field(20000.0, description="cap on everything one archive expands to")
    max_image_pixels: ImagePixels = Field(
        DEFAULT_MAX_IMAGE_PIXELS, description="cap on one image's width x height, read from its header before "
                                              "it is decoded (LFW's are 250 x 250 px, CelebA's a few megapixels)")


class Models(Section):
    root: Text = Field(description="where non-embedded InsightFace packs (buffalo_l) live")


class DetectorSettings(Section):
    model: Text = Field(description="scrfd_500m (embedded) | buffalo_l (det_10g); checked by flup.faces.weights")
    sha256: Digest | None = Field(None, description="digest for a non-embedded detector file")
    det_size: integer("a positive multiple of 32 px, at most 2048", gt=0, le=2048, multiple_of=32) = Field(
        description="detector input size; LFW images are 250 px (benchmarks/detect.md: 320 vs 640)")
    det_thresh: number("a detection score threshold in (0, 1)", gt=0, lt=1)


class SeedProtocol(Section):
    """The original study's split: by image, so test people leak into training."""

    min_images: integer("an integer >= 2 (images per person)", ge=2)
    test_fraction: Fraction = Field(description="share of the images drawn for testing")
    same_pairs: PairCount
    different_pairs: PairCount
    random_seed: Seed


class Protocols(Section):
    seed: SeedProtocol
    min_pairs_per_label: MinPairs = Field(
        DEFAULT_MIN_PAIRS_PER_LABEL, description="view1, view2 and seed are refused with fewer same-person or "
                                                 "fewer different-person pairs than this")


def expect_level(kind: str) -> str:
    """A family's valid levels in words, from the registry (flup.obfuscation.families)."""
    family = families.FAMILIES[kind]
    low = f"{'>' if family.low_open else '>='} {family.low:g}"
    high = f" and <= {family.high:g}" if math.isfinite(family.high) else ""
    return f"a {family.noun}: {'an integer' if family.integer else 'a finite number'} {low}{high}"


def level(kind: str) -> Any:
    """One level of ``kind``, checked by the registry that the obfuscations themselves use."""

    def check(value: Any) -> Any:
        try:
            return float(families.check_level(kind, value))
        except ValueError:
            raise problem("invalid level") from None

    return Annotated[float, BeforeValidator(check), Expect(expect_level(kind))]


class _LevelTable(Section):
    """Levels per obfuscation kind (absent or [] = none); larger is stronger for every kind.

    One key per family of flup.obfuscation.families (blur: Gaussian σ in px; pixelate: block side in px;
    blackbox: one level; deface: the tool's --mask-scale; face_gaussian: kernel size / face size;
    face_pixelate: cell side / face width), each level validated by that registry.
    """

    _order: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _written_order(cls, data: Any, handler: Any) -> Any:
        levels = handler(data)
        if isinstance(data, dict):  # kinds keep the order params.yaml writes them in
            levels._order = tuple(k for k in data if k in cls.model_fields)
        return levels

    @model_validator(mode="after")
    def _each_level_once(self) -> Any:
        for kind in type(self).model_fields:
            values = getattr(self, kind)
            if len(set(values)) != len(values):
                raise problem("expected each level once", at=kind, value=values)
        return self

    def kinds(self) -> list[str]:
        """Every kind, in the order params.yaml lists them (unlisted kinds last)."""
        return [*self._order, *(k for k in type(self).model_fields if k not in self._order)]

    def as_dict(self) -> dict[str, list[float]]:
        return {kind: list(getattr(self, kind)) for kind in self.kinds()}

    def pairs(self) -> list[tuple[str, float]]:
        """(kind, level) of every level, kinds in written order."""
        return [(kind, float(value)) for kind in self.kinds() for value in getattr(self, kind)]


Levels = create_model("Levels", __base__=_LevelTable, __doc__=_LevelTable.__doc__,
                      **{kind: (list[level(kind)], []) for kind in families.ORDER})


class Render(Section):
    protocols: list[Literal["view1", "view2", "seed"]] = Field(min_length=1)
    baseline_only: list[Literal["view1", "view2", "seed"]] = Field(
        default_factory=list,
        description="protocols rendered and scored at the unobfuscated level only (blur 0): view2's standard "
                    "10-fold accuracy without its 6,000 pairs over every level")
    obfuscated_side: Literal["a", "b"] = Field(description="the side of each pair that is obfuscated")
    regions: list[Region] = Field(
        min_length=1, description="face-box scale factors: every obfuscation and level is rendered over the face "
                                  "box enlarged about its centre by each (1.0 = the detected box, the seed's)")
    blur_border: Literal["crop", "context"] = Field(
        "crop", description="what a blur sees at the box's edge: crop = the box's own pixels, mirrored (the seed "
                            "study's cv2.GaussianBlur on the crop); context = the image around the box")
    encoding: Literal["png", "webp", "jpeg"]
    jpeg_quality: integer("an integer in [1, 100]", ge=1, le=100)
    workers: Workers
    obfuscations: Levels

    @model_validator(mode="after")
    def _something_to_render(self) -> Render:
        if len(set(self.protocols)) != len(self.protocols):
            raise problem("expected each protocol once", at="protocols", value=self.protocols)
        if not self.obfuscations.pairs():
            raise problem("expected at least one level to render", at="obfuscations")
        if self.regions != sorted(set(self.regions)):
            raise problem("expected increasing factors, each once", at="regions", value=self.regions)
        outside = [p for p in self.baseline_only if p not in self.protocols]
        if outside:
            raise problem("expected protocols that render.protocols lists", at="baseline_only", value=outside)
        if self.baseline_only and not any(families.is_identity(*task) for task in self.obfuscations.pairs()):
            raise problem("expected blur level 0 among the levels: baseline-only protocols are scored there",
                          at="baseline_only", value=self.baseline_only)
        return self

    def tasks(self) -> list[tuple[str, float, float]]:
        """(kind, level, region) of every render: each level of ``obfuscations`` over each of ``regions``."""
        return [(kind, level, float(region)) for kind, level in self.obfuscations.pairs() for region in self.regions]

    def protocols_at(self, kind: str, level: float) -> list[str]:
        """The protocols rendered and scored at one level: all of them at an unobfuscated level (blur 0,
        pixelation 1), else those not in ``baseline_only``."""
        if families.is_identity(kind, level):
            return list(self.protocols)
        return [p for p in self.protocols if p not in self.baseline_only]


class ArcFaceSettings(Section):
    model: Text = Field(description="w600k_mbf (embedded) | buffalo_l (w600k_r50); checked by flup.faces.weights")
    sha256: Digest | None = Field(None, description="digest for a non-embedded recogniser file")
    modes: list[Mode] = Field(min_length=1, description="threat models the obfuscated side is scored in")
    batch_size: BatchSize

    @model_validator(mode="after")
    def _modes_once(self) -> ArcFaceSettings:
        _once(self.modes, "modes")
        return self


def _once(values: list, key: str) -> None:
    if len(set(values)) != len(values):
        raise problem("expected each entry once", at=key, value=values)


class Dataset(Section):
    """An evaluation-only dataset: its pairs are rendered and scored beside LFW's."""

    format: Literal["celeba", "folder"] = Field(description="celeba (official or torchvision layout) | folder "
                                                            "(<identity>/<image>)")
    root: Text = Field(description="where the dataset lives")
    images: Literal["img_celeba", "img_align_celeba"] = Field("img_celeba", description="CelebA's image set")
    face_rule: FaceRule = Field(description="which detected face is scored (required: dvc.yaml's detect_dataset "
                                            "stage reads it from params.yaml)")
    same_pairs: PairCount
    different_pairs: PairCount
    random_seed: Seed
    min_pairs_per_label: MinPairs = Field(
        DEFAULT_MIN_PAIRS_PER_LABEL, description="the dataset is refused when fewer same-person or fewer "
                                                 "different-person pairs than this can be drawn")


class Audit(Section):
    """An entry of the audit table (issue 27, docs/audit.md): a redaction tool's command line, run on the
    identification probes' photos (stage ``redact@<name>``) and scored against the study's attackers
    (``audit@<name>``). The template is checked when params.yaml is read, before anything runs."""

    command: Text = Field(description="the tool's command line, with {input} (the photo) and {output} (the file "
                                      "to write) or {output_dir}; split like a shell, never run by one")
    version_command: Text | None = Field(None, description="a command printing the tool's version: a new version "
                                                           "reruns every photo")
    timeout_s: number("a number of seconds > 0", gt=0) = Field(120.0, description="limit per photo")
    workers: Workers = Field(1, description="photos redacted at once")
    keep_going: bool = Field(False, description="record photos the tool fails on as faces it missed (scored "
                                                "unredacted) instead of stopping")
    max_probes: PositiveInt | None = Field(None, description="null = every probe; n = a seeded subset of n probes "
                                                             "(whole people)")

    @model_validator(mode="after")
    def _template(self) -> Audit:
        try:
            CommandTool(self.command, version_command=self.version_command)
        except TemplateError as error:
            at = "version_command" if str(error).startswith("version command") else "command"
            raise problem(f"expected a command template: {error}", at=at) from None
        return self

    def tool(self, name: str) -> CommandTool:
        return CommandTool(self.command, name=name, version_command=self.version_command)


class Identification(Section):
    """The primary task (docs/design.md "Identification"): every person in identity folds, each obfuscated probe
    ranked against its fold's sharp gallery, chance exact by construction."""

    folds: integer("an integer in [2, 100] (identity folds)", ge=2, le=100) = Field(
        description="people (never images) split into this many folds; each trained attacker scores a fold after "
                    "training on the others' people")
    probes_per_identity: integer("an integer >= 1 (probe photos per person)", ge=1) = Field(
        description="cap on probe photos per person with two or more photos (identity weights sum to 1 each)")
    random_seed: Seed
    obfuscations: Levels = Field(description="levels the probes are obfuscated at (a coarse grid)")
    regions: list[Region] = Field(min_length=1, description="face-box scale factors, as render.regions")
    modes: list[Mode] = Field(min_length=1, description="threat models the probes are scored in")
    batch_size: BatchSize
    n_boot: integer("an integer in [1, 100000] (bootstrap replicates)", ge=1, le=100_000)
    privacy_auc_upper: number("an identification AUC in (0.5, 1]", gt=0.5, le=1) = Field(
        description="absolute rule: private from the weakest level from which every stronger level's upper end "
                    "is at most this")
    power: number("a probability in (0.5, 1)", gt=0.5, lt=1) = Field(
        description="relative rule: its margin is met by a true difference of 0 with this probability")
    candidates: integer("an integer >= 2 (gallery candidates)", ge=2) = Field(
        description="the report's reader unit: the right person among this many candidates (chance 1 / this)")

    @model_validator(mode="after")
    def _grid(self) -> Identification:
        if not self.obfuscations.pairs():
            raise problem("expected at least one level", at="obfuscations")
        if self.regions != sorted(set(self.regions)):
            raise problem("expected increasing factors, each once", at="regions", value=self.regions)
        _once(self.modes, "modes")
        return self


class Evaluate(Section):
    n_boot: integer("an integer in [1, 100000] (bootstrap replicates)", ge=1, le=100_000)
    seed: Seed
    privacy_auc_upper: number("an AUC in [0.5, 1]", ge=0.5, le=1)
    relative_margin: number("an AUC difference in [0, 0.5]", ge=0, le=0.5) = Field(
        0.01, description="relative threshold: weakest level whose paired 95% interval of AUC(level) - "
                          "AUC(black box) has its upper end below this")
    roc_levels: Levels


class Plot(Section):
    gallery_image: Annotated[str, Field(min_length=1),
                             Expect("an image name like 'Name/Name_0001.jpg', or null")] | None = None
    gallery_levels: Levels


class Replicated(Section):
    """Settings of a trained recogniser: ``seeds`` lists its training seeds, one replica each (at least 3 for a
    row with a spread; the default study trains one). The training code sees one replica's settings at a time
    (``for_seed``), whose ``seed`` is that replica's."""

    seeds: Seeds
    cpu_threads: integer("null or an integer >= 1 (threads)", ge=1) | None = Field(
        2, description="threads that train on the CPU: the same number, the same bits on any AVX2 CPU")

    @model_validator(mode="after")
    def _seeds_once(self) -> Any:
        _once(self.seeds, "seeds")
        return self

    @property
    def seed(self) -> int:
        """The seed of a one-replica settings object (``for_seed``); ValueError while several are listed."""
        if len(self.seeds) != 1:
            raise ValueError(f"{len(self.seeds)} training seeds {self.seeds}: take one replica with for_seed(seed)")
        return self.seeds[0]

    def for_seed(self, seed: int) -> Any:
        """These settings for the replica trained with ``seed`` (one of ``seeds``)."""
        if seed not in self.seeds:
            raise ValueError(f"seed {seed} is not one of the training seeds {self.seeds}")
        return self.model_copy(update={"seeds": [int(seed)]})


class Train(Replicated):
    """The dual-stream models' training; each variant may override any of these keys."""

    protocol: Literal["view1", "seed"]
    positive: Literal["other_photo", "same_photo"]
    head: Literal["flatten", "gap"]
    input_size: integer("an integer in [32, 1024] (pixels)", ge=32, le=1024)
    pretrained: Text = Field(description="v1 | v2 | none | a state_dict path")
    epochs: Epochs
    batch_size: BatchSize
    lr: LearningRate
    margin: Positive
    approximate_blur: bool
    samples_per_epoch: PositiveInt | None = Field(description="null = one quadruplet per training image")
    val_fraction: Fraction = Field(description="training identities held out for validation")
    val_pairs: PositiveInt
    num_workers: LoaderWorkers
    device: Device
    feed: Literal["auto", "cpu", "device"] = Field("auto", description="where training batches are prepared")
    precision: Literal["fp32", "bf16"] = "fp32"
    compile: bool = False
    nproc: Processes = Field(1, description="> 1: the stage reruns itself under torchrun (docs/scaling.md)")


TrainOverrides = overrides_of(Train)


class PolicySettings(Section):
    """A variant's crop/blur policy (flup.models.sampling.Policy's fields), approximate_blur resolved."""

    crop: Literal["full", "random", "tight"]
    blur: Literal["whole_image", "face_box"]
    sigma_min: level("blur") = 5.0
    sigma_max: level("blur") = 20.0
    crop_steps: PositiveInt = 10
    approximate_blur: bool


class Variant(Section):
    """An entry of the model table: a crop/blur policy plus overrides of ``train:``."""

    crop: Literal["full", "random", "tight"]
    blur: Literal["whole_image", "face_box"]
    sigma_min: level("blur") = 5.0
    sigma_max: level("blur") = 20.0
    crop_steps: PositiveInt = 10
    approximate_blur: bool | None = Field(None, description="null = train.approximate_blur")
    train: TrainOverrides | None = None

    @model_validator(mode="after")
    def _sigma_order(self) -> Variant:
        if self.sigma_min > self.sigma_max:
            raise problem(f"expected sigma_max >= sigma_min ({self.sigma_min:g})", at="sigma_max",
                          value=self.sigma_max)
        return self


class ScoreModel(Section):
    batch_size: BatchSize
    device: Device


class Adapter(Section):
    views: PositiveInt = Field(description="obfuscated draws per training image")
    target: Literal["same_image", "identity_mean"]
    depth: PositiveInt
    hidden: PositiveInt
    epochs: Epochs
    batch_size: BatchSize
    lr: LearningRate
    weight_decay: NonNegative


class Finetune(Section):
    epochs: Epochs
    batch_size: BatchSize
    lr: LearningRate
    samples_per_epoch: PositiveInt | None = Field(description="null = every training image once per epoch")


class Attack(Replicated):
    """Blur-aware ArcFace attackers; each entry of ``attackers`` may override any of these keys."""

    protocol: Annotated[Literal["view1"], Expect("view1 (attackers need a protocol whose train and test people "
                                                 "are disjoint)")]
    modes: list[Mode] = Field(min_length=1)
    sharp_fraction: Share
    val_fraction: Fraction
    val_pairs: PositiveInt
    max_images: PositiveInt | None = Field(description="seeded cap on training images (null = all)")
    batch_size: BatchSize
    device: Device
    adapter: Adapter
    finetune: Finetune
    nproc: Processes = Field(1, description="> 1: the stage reruns itself under torchrun (docs/scaling.md)")

    @model_validator(mode="after")
    def _modes_once(self) -> Attack:
        _once(self.modes, "modes")
        return self


AttackOverrides = overrides_of(Attack)
AttackLevel = number("a finite number >= 0 (a level of the obfuscation, as in render.obfuscations)", ge=0)
LevelRange = Annotated[list[AttackLevel], Field(min_length=2, max_length=2), Expect("[low, high]")]
MIXTURE = "mixture"
AttackerObfuscation = Literal[(*families.ORDER, MIXTURE)]  # every family of flup.obfuscation.families, or a mixture


def _check_range(kind: str, levels: list[float], at: tuple) -> None:
    """``levels`` = [low, high] of family ``kind``: ordered, each a valid level (problem at ``at``)."""
    low, high = levels
    if low > high:
        raise problem("expected [low, high] with low <= high (equal for one fixed level)", at=at, value=levels)
    for index, value in enumerate(levels):
        try:
            families.check_level(kind, value)
        except ValueError:
            raise problem(f"expected {expect_level(kind)}", at=(*at, index), value=value) from None


class Attacker(Section):
    """An entry of the attacker table: a method, the obfuscation it learns and overrides of ``attack:``.

    ``obfuscation`` is one family (``levels: [low, high]``, each training sample's level drawn uniformly in it,
    integers for integer families) or ``mixture`` (``mixture: {kind: [low, high], ...}``, two kinds or more:
    each sample draws its family uniformly, then its level in that family's range)."""

    method: Literal["adapter", "finetune"]
    obfuscation: AttackerObfuscation = "blur"
    levels: LevelRange | None = Field(
        None, description="one family: the level is drawn uniformly in [low, high] (required; not with mixture)")
    mixture: Annotated[dict[str, LevelRange], Expect("a mapping {kind: [low, high], ...} of two families or more")
                       ] | None = Field(
        None, description="obfuscation: mixture: each family's [low, high]; a sample draws its family uniformly")
    attack: AttackOverrides | None = None

    @model_validator(mode="after")
    def _level_range(self) -> Attacker:
        if self.obfuscation == MIXTURE:
            if self.levels is not None:
                raise problem("expected no levels with obfuscation: mixture (each family's [low, high] goes in "
                              "mixture)", at="levels", value=self.levels)
            if self.mixture is None:
                raise problem("required key missing: expected mixture: {kind: [low, high], ...} of two families "
                              "or more with obfuscation: mixture", at="mixture")
            for kind, levels in self.mixture.items():
                if kind not in families.FAMILIES:
                    raise problem(f"expected a family of {', '.join(families.ORDER)}, got {kind!r}",
                                  at=("mixture", kind))
                _check_range(kind, levels, ("mixture", kind))
            if len(self.mixture) < 2:
                raise problem("expected two families or more in a mixture", at="mixture", value=self.mixture)
            return self
        if self.mixture is not None:
            raise problem(f"expected no mixture with obfuscation: {self.obfuscation} (mixture needs "
                          "obfuscation: mixture)", at="mixture", value=self.mixture)
        if self.levels is None:
            raise problem(f"required key missing: expected [low, high] of {self.obfuscation} levels", at="levels")
        _check_range(self.obfuscation, self.levels, ("levels",))
        return self

    def ranges(self) -> dict[str, tuple[float, float]]:
        """Each family it trains on -> (low, high): one entry, or the mixture's, in written order."""
        if self.obfuscation == MIXTURE:
            return {kind: (levels[0], levels[1]) for kind, levels in (self.mixture or {}).items()}
        low, high = self.levels or (0.0, 0.0)
        return {self.obfuscation: (low, high)}


class AttackerSettings(Section):
    """An attacker's merged settings: its entry plus ``attack:`` with the entry's overrides.

    ``ranges`` maps each family it trains on to its (low, high) level range: one family, or every family of a
    mixture (``obfuscation == "mixture"``)."""

    name: str
    method: Literal["adapter", "finetune"]
    obfuscation: AttackerObfuscation
    ranges: dict[str, tuple[float, float]]
    attack: Attack

    @property
    def trained_on(self) -> str:
        """What it trained on, as the report names it: a family ("blur", …) or "mixture"."""
        return self.obfuscation

    @property
    def kinds(self) -> list[str]:
        """The families it trains on (one, or a mixture's)."""
        return list(self.ranges)

    @property
    def is_mixture(self) -> bool:
        return self.obfuscation == MIXTURE

    def _single(self) -> tuple[float, float]:
        if self.is_mixture:
            raise ValueError(f"attacker {self.name} trains on a mixture: its ranges are in .ranges")
        return self.ranges[self.obfuscation]

    @property
    def low(self) -> float:
        """The lowest level of a one-family attacker (ValueError for a mixture: see ``ranges``)."""
        return self._single()[0]

    @property
    def high(self) -> float:
        """The highest level of a one-family attacker (ValueError for a mixture: see ``ranges``)."""
        return self._single()[1]


class LearningCurve(Section):
    """The learning curve of one adapter attacker (stage ``learning_curve``, flup/attack/learning_curve.py): its AUC
    on view1's test pairs at ``levels`` over ``region`` (oracle box) after training on each of ``images``
    training images (nested subsets of one seeded permutation). ``images: []`` switches it off: the stage then
    writes empty results in a second."""

    attacker: Text | None = Field(None, description="the entry of the attackers table whose settings train each "
                                                     "point (an adapter)")
    images: list[PositiveInt | None] = Field([], description="training-set sizes (null = every training image); "
                                                             "[] = no curve")
    levels: Levels = Field(default_factory=Levels, description="levels scored, each one of render.obfuscations")
    region: Region = Field(1.0, description="the face-box scale factor scored, one of render.regions")

    @model_validator(mode="after")
    def _sizes_once(self) -> LearningCurve:
        _once(self.images, "images")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.images)


class Executor(Section):
    """Where the per-image work runs: detect, render and the embeddings of every scoring stage
    (flup/executor.py, docs/scaling.md).

    Not a result parameter: both executors call the same per-image code in the same batches and write the same
    bits on CPU (the fine-tuned attacker needs ``cpus_per_worker >= 2`` for that), so no stage lists
    ``executor`` in dvc.yaml and changing it reruns nothing."""

    kind: Literal["local", "ray"] = Field("local", description="local: in this process (and render.workers "
                                          "processes), as always; ray: Ray Data map_batches on a Ray cluster")
    address: RayAddress | None = Field(None, description="kind ray: null starts a Ray instance on this machine; "
                                       "auto, ray://host:port or host:port joins that cluster")
    workers: Workers = Field(2, description="kind ray: actors, each holding one model (detector, ArcFace, a trained "
                                            "recogniser)")
    cpus_per_worker: integer("an integer in [1, 64]", ge=1, le=64) = Field(
        1, description="kind ray: CPUs Ray reserves per actor, and its ONNX Runtime / torch threads")
    gpus_per_worker: number("a number in [0, 8]", ge=0, le=8) = Field(
        0.0, description="kind ray: GPUs per actor (0 = CPU only); > 0 runs the models on CUDA, whose "
                         "results may differ from the CPU's in the last bits")
    batch_size: BatchSize = Field(16, description="kind ray: images per map_batches call")


GridValues = Annotated[list[Any], Field(min_length=1), Expect("a non-empty list of values")]


class Grid(Section):
    """A named grid of experiments (``python -m flup.config.grid NAME``): one queued ``dvc exp run`` per point.

    ``params`` maps dotted parameter keys (as ``dvc exp run -S`` writes them, e.g. ``evaluate.seed``) to lists
    of values. ``mode: product`` (the default) runs every combination, the first key varying slowest (the order
    of :func:`itertools.product`); ``mode: zip`` pairs the lists item by item (equal lengths). Each point is
    validated as the study it makes (:func:`flup.config.grid.points`) before anything is queued.
    """

    mode: Literal["product", "zip"] = Field("product", description="product: every combination; zip: item by item")
    params: Annotated[dict[str, GridValues], Field(min_length=1), Expect("a mapping of dotted keys to lists")]


def parameter_keys(data: Any, prefix: str = "") -> list[str]:
    """Dotted keys of every leaf (a list is one leaf) of a plain-data section tree."""
    if isinstance(data, dict) and data:
        return [key for name, value in data.items() for key in parameter_keys(value, f"{prefix}{name}.")]
    return [prefix[:-1]] if prefix else []


def _grid_key_problem(key: str, known: list[str]) -> str | None:
    """Why a grid cannot set ``key`` (None when it can): it must name a parameter of the schema."""
    parts = tuple(key.split("."))
    if "" not in parts and parts[0] in Study.model_fields and parts[0] != "grids" and schema_at(parts)[0] is not None:
        return None
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return "unknown parameter" + (f", did you mean {close[0]}?" if close else
                                  " (expected a dotted key of params.yaml, e.g. evaluate.seed)")


class Study(Section):
    """The whole of params.yaml."""

    data: Data
    models: Models
    detector: DetectorSettings
    protocols: Protocols
    render: Render
    arcface: ArcFaceSettings
    datasets: dict[str, Dataset] = Field({}, description="evaluation-only datasets scored beside LFW")
    evaluate: Evaluate
    identification: Identification
    plot: Plot
    train: Train
    variants: dict[str, Variant] = Field(description="the model table")
    score_model: ScoreModel
    attack: Attack
    attackers: dict[str, Attacker] = Field(description="the attacker table")
    executor: Executor = Field(default_factory=Executor, description="where per-image work runs (not a result)")
    learning_curve: LearningCurve = Field(default_factory=LearningCurve,
                                          description="an adapter attacker's AUC vs its number of training images")
    grids: dict[str, Grid] = Field({}, description="named experiment grids: python -m flup.config.grid NAME")
    audits: dict[str, Audit] = Field({}, description="redaction tools audited against the attackers (docs/audit.md)")
    _source: str = PrivateAttr(default=PARAMS_FILE)
    _where: dict = PrivateAttr(default_factory=dict)
    _document: dict = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _tables(self) -> Study:
        for table in ("datasets", "variants", "attackers", "grids", "audits"):
            for name in getattr(self, table):
                if not NAME.fullmatch(name):
                    raise problem("expected a name of letters, digits, '_' and '-' (it names stages and folders)",
                                  at=(table, name))
        if "lfw" in self.datasets:
            raise problem("expected another name: lfw is the study's own dataset", at=("datasets", "lfw"))
        for name in self.audits:  # an audit is scored as a pseudo-family of its name, beside the real ones
            if name in families.FAMILIES:
                raise problem("expected a name no obfuscation family uses (the audit is scored as a family of "
                              "its name)", at=("audits", name))
        for name in self.attackers:  # both write data/scores/<name>.parquet
            if name in self.variants or name == "arcface":
                raise problem("expected a name no variant (nor arcface) uses: both write "
                              f"data/scores/{name}.parquet", at=("attackers", name))
        if self.attackers and "view1" not in self.render.protocols:
            raise problem("expected to include view1: the attackers train and are scored on it",
                          at=("render", "protocols"), value=self.render.protocols)
        self._check_learning_curve()
        known = parameter_keys(self.model_dump(exclude={"grids"}))
        for name, grid in self.grids.items():
            for key in grid.params:
                error = _grid_key_problem(key, known)
                if error is not None:
                    raise problem(error, at=("grids", name, "params", key))
            lengths = [len(values) for values in grid.params.values()]
            if grid.mode == "zip" and len(set(lengths)) > 1:
                raise problem(f"expected lists of one length to zip, got lengths {', '.join(map(str, lengths))}",
                              at=("grids", name, "params"))
        return self

    def _check_learning_curve(self) -> None:
        curve = self.learning_curve
        if not curve.enabled:
            return
        at = ("learning_curve",)
        if curve.attacker is None or curve.attacker not in self.attackers:
            raise problem(f"expected an entry of the attackers table ({', '.join(self.attackers) or 'none'})",
                          at=(*at, "attacker"), value=curve.attacker)
        method = self.attackers[curve.attacker].method
        if method != "adapter":
            raise problem(f"expected an adapter attacker (method: adapter): {curve.attacker} is a {method} "
                          "attacker, and the learning curve trains adapters only", at=(*at, "attacker"),
                          value=curve.attacker)
        pairs = curve.levels.pairs()
        if not pairs:
            raise problem("expected at least one level to score", at=(*at, "levels"))
        rendered = set(self.render.obfuscations.pairs())
        for kind in curve.levels.kinds():
            missing = [v for v in getattr(curve.levels, kind) if (kind, float(v)) not in rendered]
            if missing:
                raise problem(f"expected levels that render.obfuscations.{kind} lists (they are scored on the "
                              "render)", at=(*at, "levels", kind), value=missing)
        if curve.region not in self.render.regions:
            raise problem(f"expected one of render.regions ({', '.join(f'{r:g}' for r in self.render.regions)})",
                          at=(*at, "region"), value=curve.region)
        protocol = self.attack.protocol
        if protocol not in self.render.protocols or protocol in self.render.baseline_only:
            raise problem(f"expected {protocol} rendered at every level: the learning curve scores its test pairs",
                          at=("render", "protocols"), value=self.render.protocols)

    # --- lookups by the name a stage is given ----------------------------------------------------

    def _entry(self, table: str, name: str) -> Any:
        entries = getattr(self, table)
        if name not in entries:
            line = self._where.get((table,), (self._source, 1))
            raise ConfigError(f"{line[0]}:{line[1]}: {table}.{name}: not defined "
                              f"({table}: {', '.join(entries) or 'none'})")
        return entries[name]

    def dataset(self, name: str) -> Dataset:
        return self._entry("datasets", name)

    def variant(self, name: str) -> Variant:
        return self._entry("variants", name)

    def train_settings(self, name: str) -> Train:
        """``train:`` with the variant's ``train:`` overrides."""
        given = _given(self.variant(name).train)
        return self.train.model_copy(update=given) if given else self.train

    def policy(self, name: str) -> PolicySettings:
        """The variant's crop/blur policy; approximate_blur defaults to its training settings'."""
        variant = self.variant(name)
        approximate = variant.approximate_blur
        if approximate is None:
            approximate = self.train_settings(name).approximate_blur
        return PolicySettings(crop=variant.crop, blur=variant.blur, sigma_min=variant.sigma_min,
                              sigma_max=variant.sigma_max, crop_steps=variant.crop_steps, approximate_blur=approximate)

    def grid(self, name: str) -> Grid:
        return self._entry("grids", name)

    def audit(self, name: str) -> Audit:
        return self._entry("audits", name)

    def attacker(self, name: str) -> AttackerSettings:
        """The attacker entry with ``attack:`` merged under its overrides (sub-tables merge key by key)."""
        entry = self._entry("attackers", name)
        merged = Attack.model_validate(_merge(self.attack.model_dump(), _given(entry.attack)))
        return AttackerSettings(name=name, method=entry.method, obfuscation=entry.obfuscation,
                                ranges=entry.ranges(), attack=merged)

    def document(self) -> dict:
        """params.yaml as written (plain data, no defaults filled in): what dvc.lock's params compare with."""
        return self._document

    def where(self, dotted: str) -> str:
        """``file:line`` of a key (or of its closest written parent)."""
        return location(self._where, tuple(dotted.split(".")), self._source)


# --- the schema's shape at a key (the loader's error messages, the grids' keys) ---------------------


def _unwrap(annotation: Any) -> tuple[Any, list]:
    """Strip Annotated (collecting its metadata) and Optional."""
    metadata: list = []
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            metadata += list(annotation.__metadata__)
            annotation = annotation.__origin__
        elif typing.get_origin(annotation) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation, metadata
            annotation = args[0]
        else:
            return annotation, metadata


def schema_at(path: Path_) -> tuple[Any, list, type[BaseModel] | None]:
    """The annotation (and metadata) the schema gives ``path``, and the model holding its last key."""
    node: Any = Study
    metadata: list = []
    holder = None
    for part in path:
        node, _ = _unwrap(node)
        if isinstance(node, type) and issubclass(node, BaseModel):
            holder = node
            info = node.model_fields.get(part) if isinstance(part, str) else None
            if info is None:
                return None, [], holder
            node, metadata = info.annotation, list(info.metadata)
        elif typing.get_origin(node) is dict:
            node, metadata, holder = typing.get_args(node)[1], [], None
        elif typing.get_origin(node) is list:
            node, metadata, holder = typing.get_args(node)[0], [], None
        else:
            return None, [], holder
    node, extra = _unwrap(node)
    return node, metadata + extra, holder
