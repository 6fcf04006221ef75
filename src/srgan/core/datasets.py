"""Every image set the project knows, in one place: names, kinds and where each comes from.

* **Test sets** that can be downloaded (Set5, Set14, BSD100, DIV2K_valid), each a folder inside
  an archive at canonical public URLs with the checksums its publishers give.
* **Training sets**: DIV2K (downloaded), T91 and BSD200 (from a mirror), a linked sample of a
  local ImageNet (``ImageNet``), a folder of the user's (``folder``), or the photographs bundled
  with scikit-image (``skimage``, the offline demo's).
* **The bundled sets**: which scikit-image photographs make the demo's test and training sets.
* **A mirror's layout** (``data.mirror``): ``benchmarks/<set>/``, ``train/<set>/``, ``SHA256SUMS``.

The data step (``srgan.data.acquire``, ``srgan.data.download``) fetches them; ``srgan.core.paths``
says where they land. The config schema lists ``data.train_set``'s choices for the user; a test
checks it names exactly ``TRAIN_SET_CHOICES``. Torch-free and network-free: data only.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- where downloadable sets come from ---------------------------------------------------------


@dataclass(frozen=True)
class Download:
    """A file at canonical public URLs, with the checksums its publishers give."""

    filename: str
    urls: tuple[str, ...]
    size: int | None
    sha256: str | None
    md5: str | None
    checksum_source: str


@dataclass(frozen=True)
class RemoteSet:
    """An image set inside a downloaded archive."""

    download: Download
    member_dir: str  # folder inside the archive holding the HR images
    n_images: int  # how many images the folder must hold


EDSR_BENCHMARK = Download(
    filename="benchmark.tar",
    urls=("https://cv.snu.ac.kr/research/EDSR/benchmark.tar",),
    size=None,
    sha256=None,
    md5="4ace41d33c2384b97e6b320cd0afd6ba",
    checksum_source="Coloquinte/torchSR torchsr/datasets/benchmarks.py (MD5)",
)
DIV2K_TRAIN_HR = Download(
    filename="DIV2K_train_HR.zip",
    urls=(
        "https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip",
        "http://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip",
    ),
    size=3530603713,
    sha256="9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335",
    md5="bdc2d9338d4e574fe81bf7d158758658",
    checksum_source="tensorflow/datasets url_checksums/div2k.txt (size, SHA256); torchSR (MD5)",
)
DIV2K_VALID_HR = Download(
    filename="DIV2K_valid_HR.zip",
    urls=(
        "https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip",
        "http://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip",
    ),
    size=448993893,
    sha256="20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc",
    md5="9fcdda83005c5e5997799b69f955ff88",
    checksum_source="tensorflow/datasets url_checksums/div2k.txt (size, SHA256); torchSR (MD5)",
)
DOWNLOADS = {d.filename: d for d in (EDSR_BENCHMARK, DIV2K_TRAIN_HR, DIV2K_VALID_HR)}

#: Test sets that can be downloaded (folder name -> where it is in which archive).
TEST_SETS = {
    "Set5": RemoteSet(EDSR_BENCHMARK, "benchmark/Set5/HR", 5),
    "Set14": RemoteSet(EDSR_BENCHMARK, "benchmark/Set14/HR", 14),
    "BSD100": RemoteSet(EDSR_BENCHMARK, "benchmark/B100/HR", 100),
    "DIV2K_valid": RemoteSet(DIV2K_VALID_HR, "DIV2K_valid_HR", 100),
}
#: Training sets that can be downloaded.
TRAIN_SETS = {"DIV2K": RemoteSet(DIV2K_TRAIN_HR, "DIV2K_train_HR", 800)}

# --- the photographs bundled with scikit-image (the offline demo) --------------------------------

#: The stand-in benchmark ("SkimageTest"): four colour photographs and one gray one.
TEST_IMAGES = ("astronaut", "chelsea", "coffee", "rocket", "camera")
#: Training photographs, disjoint from the test ones.
TRAIN_IMAGES = (
    "motorcycle_left",
    "motorcycle_right",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "coins",
    "moon",
    "brick",
    "grass",
    "gravel",
    "page",
    "text",
)
#: The bundled sets' names.
BUNDLED_TEST_SET = "SkimageTest"
BUNDLED_TRAIN_SET = "SkimageTrain"
#: Sets made from the photographs bundled with scikit-image (no network needed).
BUNDLED_SETS = {BUNDLED_TEST_SET: TEST_IMAGES, BUNDLED_TRAIN_SET: TRAIN_IMAGES}

# --- training sets and mirrors -------------------------------------------------------------------

#: A mirror's layout (docs/data.md): ``benchmarks/<set>/``, ``train/<set>/``, sums.
MIRROR_TEST_DIR = "benchmarks"
MIRROR_TRAIN_DIR = "train"
MIRROR_SUMS = "SHA256SUMS"
#: Training sets a mirror may hold.
MIRROR_TRAIN_SETS = ("T91", "BSD200", "DIV2K")
#: ``data.train_set`` values that are not a named set's folder.
TRAIN_SET_FOLDER = "folder"  # data.train_dir, as given
TRAIN_SET_IMAGENET = "ImageNet"  # a linked sample of data.imagenet_dir
TRAIN_SET_BUNDLED = "skimage"  # the photographs bundled with scikit-image (the demo)
#: Every value of ``data.train_set`` (the config schema's enum names the same).
TRAIN_SET_CHOICES = (
    *TRAIN_SETS,
    TRAIN_SET_IMAGENET,
    *sorted(set(MIRROR_TRAIN_SETS) - set(TRAIN_SETS)),
    TRAIN_SET_FOLDER,
    TRAIN_SET_BUNDLED,
)
#: BSD300's 200 training images in a mirror: the set the paper drew its 20 MOS calibration
#: images from.
MOS_CALIBRATION_SET = "BSD200"
