"""Downloads (resume, retry, checksums), path-safe extraction, mirrors, ImageNet, bundled sets.

Downloads are tested against a loopback HTTP server on 127.0.0.1 that honours Range
requests and can be told to drop a connection, fail, or serve tampered bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import threading
import zipfile
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from srgan.cli import main as cli
from srgan.core import datasets, paths
from srgan.core.config import load_config
from srgan.core.errors import UserError
from srgan.core.fileio import format_sums, read_sums
from srgan.data import acquire, download

REPO = Path(__file__).resolve().parents[1]
PAYLOAD = bytes(range(256)) * 40  # 10240 bytes, every byte value
NO_SLEEP = {"sleep": lambda seconds: None}


class Server:
    """What the loopback server serves and what it saw."""

    def __init__(self) -> None:
        self.body = PAYLOAD
        self.ranges: list[str | None] = []  # the Range header of every request
        self.drop_after: list[int] = []  # per request: close after this many bytes
        self.fail_status: list[int] = []  # per request: answer with this status instead
        self.honour_range = True


def _handler(state: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep pytest's output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            header = self.headers.get("Range")
            state.ranges.append(header)
            if state.fail_status:
                self.send_error(state.fail_status.pop(0))
                return
            body, start = state.body, 0
            if header and state.honour_range:
                start = int(header.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_error(416)
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            chunk = body[start:]
            if state.drop_after:
                chunk = chunk[: state.drop_after.pop(0)]
            self.wfile.write(chunk)

    return Handler


@pytest.fixture
def server():
    state = Server()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/file.bin"
    yield state
    httpd.shutdown()
    httpd.server_close()


def _source(server: Server, body: bytes = PAYLOAD) -> datasets.Download:
    return datasets.Download(
        filename="file.bin",
        urls=(server.url,),
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        md5=hashlib.md5(body).hexdigest(),
        checksum_source="the test",
    )


# --- downloads ----------------------------------------------------------------------------


def test_download_verifies_and_renames(server, tmp_path):
    dest = tmp_path / "file.bin"
    assert download.download(_source(server), dest, progress=False) == dest
    assert dest.read_bytes() == PAYLOAD
    assert server.ranges == [None]
    assert not download.partial_path(dest).exists()


def test_download_resumes_partial_file_with_range(server, tmp_path):
    dest = tmp_path / "file.bin"
    download.partial_path(dest).write_bytes(PAYLOAD[:3000])
    download.download(_source(server), dest, progress=False)
    assert server.ranges == ["bytes=3000-"]
    assert dest.read_bytes() == PAYLOAD


def test_download_retries_a_dropped_connection_and_resumes(server, tmp_path):
    dest = tmp_path / "file.bin"
    server.drop_after = [4096]
    server.fail_status = [503]
    download.download(_source(server), dest, progress=False, **NO_SLEEP)
    # 503, then a transfer cut after 4096 bytes, then the rest from byte 4096
    assert server.ranges == [None, None, "bytes=4096-"]
    assert dest.read_bytes() == PAYLOAD


def test_download_restarts_when_the_server_ignores_range(server, tmp_path):
    dest = tmp_path / "file.bin"
    download.partial_path(dest).write_bytes(PAYLOAD[:100])
    server.honour_range = False
    download.download(_source(server), dest, progress=False)
    assert server.ranges == ["bytes=100-"]
    assert dest.read_bytes() == PAYLOAD


def test_download_rejects_a_tampered_file_and_keeps_nothing(server, tmp_path):
    dest = tmp_path / "file.bin"
    server.body = PAYLOAD[:-1] + b"\x00"  # same size, one byte changed
    with pytest.raises(UserError, match="does not match its published checksum"):
        download.download(_source(server, PAYLOAD), dest, progress=False)
    assert not dest.exists()
    assert not download.partial_path(dest).exists()


def test_download_starts_over_once_when_the_resumed_part_was_bad(server, tmp_path):
    dest = tmp_path / "file.bin"
    download.partial_path(dest).write_bytes(b"\xff" * 500)  # not the file's first bytes
    download.download(_source(server), dest, progress=False)
    assert server.ranges == ["bytes=500-", None]
    assert dest.read_bytes() == PAYLOAD


def test_download_checks_only_the_published_md5(server, tmp_path):
    dest = tmp_path / "file.bin"
    md5_only = replace(_source(server), size=None, sha256=None)
    download.download(md5_only, dest, progress=False)
    assert hashlib.md5(dest.read_bytes()).hexdigest() == md5_only.md5


def test_download_refuses_an_existing_file_that_does_not_match(server, tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"something else")
    with pytest.raises(UserError, match="delete it"):
        download.download(_source(server), dest, progress=False)
    assert server.ranges == []


def test_download_gives_up_after_its_retries(server, tmp_path):
    server.fail_status = [500] * 3
    with pytest.raises(UserError, match="failed 3 times"):
        download.download(_source(server), tmp_path / "f", retries=2, progress=False, **NO_SLEEP)
    assert len(server.ranges) == 3


def test_download_404_is_final(server, tmp_path):
    server.fail_status = [404]
    with pytest.raises(UserError, match="HTTP 404"):
        download.download(_source(server), tmp_path / "f", progress=False, **NO_SLEEP)
    assert len(server.ranges) == 1


def test_published_sources_are_pinned():
    for source in datasets.DOWNLOADS.values():
        assert source.sha256 or source.md5, source.filename
        assert all(url.endswith(source.filename) for url in source.urls)
    assert datasets.DIV2K_TRAIN_HR.size == 3530603713
    assert datasets.TEST_SETS["BSD100"].n_images == 100


# --- extraction ---------------------------------------------------------------------------


def _tar(path: Path, files: dict[str, bytes], links: dict[str, str] = ()) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in dict(links).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


def _zip(path: Path, files: dict[str, bytes], links: dict[str, str] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        for name, target in dict(links).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16) | 0  # a symbolic link
            archive.writestr(info, target)
    return path


GOOD = {
    "benchmark/Set5/HR/a.png": b"A" * 10,
    "benchmark/Set5/HR/b.png": b"B" * 20,
    "benchmark/Set5/LR_bicubic/X4/a.png": b"low",
    "benchmark/Set14/HR/c.png": b"C",
    "benchmark/Set5/HR/readme.txt": b"not an image",
}


@pytest.mark.parametrize("make", [_tar, _zip])
def test_extract_takes_only_the_set_images(make, tmp_path):
    archive = make(tmp_path / "bench.archive", GOOD, {"benchmark/Set5/HR/inside": "a.png"})
    dest = tmp_path / "out" / "Set5"
    written = download.extract_images(archive, "benchmark/Set5/HR", dest, n_images=2)
    assert sorted(p.name for p in dest.iterdir()) == ["a.png", "b.png"]
    assert written == [dest / "a.png", dest / "b.png"]
    assert (dest / "b.png").read_bytes() == b"B" * 20
    sums = acquire.write_manifest(dest, tmp_path / "Set5.sha256")
    assert sums == {
        "a.png": hashlib.sha256(b"A" * 10).hexdigest(),
        "b.png": hashlib.sha256(b"B" * 20).hexdigest(),
    }
    assert read_sums(tmp_path / "Set5.sha256") == sums


@pytest.mark.parametrize("make", [_tar, _zip])
@pytest.mark.parametrize(
    ("files", "links", "why"),
    [
        ({"benchmark/Set5/HR/../../../evil.png": b"x"}, {}, "'..'"),
        ({"/tmp/evil.png": b"x"}, {}, "absolute"),
        ({}, {"benchmark/Set5/HR/x.png": "../../../../etc/passwd"}, "points outside"),
        ({}, {"benchmark/Set5/HR/x.png": "/etc/passwd"}, "absolute"),
    ],
)
def test_extract_rejects_unsafe_archives(make, files, links, why, tmp_path):
    archive = make(tmp_path / "evil.archive", {**GOOD, **files}, links)
    dest = tmp_path / "out" / "Set5"
    with pytest.raises(UserError, match=why):
        download.extract_images(archive, "benchmark/Set5/HR", dest)
    assert not dest.exists()
    assert not (tmp_path / "evil.png").exists()


def test_extract_wrong_count_keeps_the_old_folder(tmp_path):
    archive = _tar(tmp_path / "bench.tar", GOOD)
    dest = tmp_path / "Set5"
    dest.mkdir()
    (dest / "old.png").write_bytes(b"old")
    with pytest.raises(UserError, match="holds 2 images .* expected 5"):
        download.extract_images(archive, "benchmark/Set5/HR", dest, n_images=5)
    assert [p.name for p in dest.iterdir()] == ["old.png"]


def test_extract_refuses_a_file_that_is_no_archive(tmp_path):
    path = tmp_path / "not.tar"
    path.write_bytes(b"plain bytes")
    with pytest.raises(UserError, match="neither a zip nor a tar"):
        download.extract_images(path, "x", tmp_path / "out")


# --- mirrors ------------------------------------------------------------------------------


def _mirror(root: Path) -> Path:
    files = {"benchmarks/SetX/a.png": b"aa", "benchmarks/SetX/b.png": b"bb", "train/T9/t.png": b"t"}
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    (root / datasets.MIRROR_SUMS).write_text(format_sums(sums))
    return root


def test_mirror_set_is_checked_against_its_sums(tmp_path):
    mirror = _mirror(tmp_path / "mirror")
    sums = acquire.verify_mirror_set(mirror, "benchmarks/SetX")
    assert sums == {
        "a.png": hashlib.sha256(b"aa").hexdigest(),
        "b.png": hashlib.sha256(b"bb").hexdigest(),
    }


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda m: (m / "benchmarks/SetX/a.png").write_bytes(b"tampered"), "does not match"),
        (lambda m: (m / "benchmarks/SetX/new.png").write_bytes(b"n"), "not listed"),
        (lambda m: (m / "benchmarks/SetX/b.png").unlink(), "lacks 1 files"),
    ],
)
def test_mirror_set_rejects_changes(change, why, tmp_path):
    mirror = _mirror(tmp_path / "mirror")
    change(mirror)
    with pytest.raises(UserError, match=why):
        acquire.verify_mirror_set(mirror, "benchmarks/SetX")


def test_mirror_without_sums_is_only_hashed(tmp_path):
    mirror = _mirror(tmp_path / "mirror")
    (mirror / datasets.MIRROR_SUMS).unlink()
    (mirror / "benchmarks/SetX/a.png").write_bytes(b"changed")
    assert (
        acquire.verify_mirror_set(mirror, "benchmarks/SetX")["a.png"]
        == hashlib.sha256(b"changed").hexdigest()
    )
    with pytest.raises(UserError, match="has no benchmarks/Nope/"):
        acquire.verify_mirror_set(mirror, "benchmarks/Nope")


def test_the_shared_mirror_matches_its_sums(shared_data):
    sums = acquire.verify_mirror_set(shared_data, "benchmarks/Set5")
    listed = read_sums(shared_data / datasets.MIRROR_SUMS)
    assert sorted(sums) == ["baby.png", "bird.png", "butterfly.png", "head.png", "woman.png"]
    assert all(listed[f"benchmarks/Set5/{name}"] == digest for name, digest in sums.items())


# --- ImageNet subset ----------------------------------------------------------------------


def _ilsvrc(root: Path) -> list[str]:
    names = []
    for wnid in ("n01440764", "n01443537", "n01484850"):
        for i in range(10):
            name = f"{wnid}/{wnid}_{i}.JPEG"
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(name.encode())
            names.append(name)
    (root / "n01440764" / "notes.txt").write_text("not an image")
    return names


def test_imagenet_sample_is_seeded_sorted_and_linked(tmp_path):
    names = _ilsvrc(tmp_path / "ilsvrc")
    sample = acquire.imagenet_sample(tmp_path / "ilsvrc", 7, seed=0)
    assert len(sample) == 7 == len(set(sample))
    assert sample == sorted(sample) and set(sample) <= set(names)
    assert acquire.imagenet_sample(tmp_path / "ilsvrc", 7, seed=0) == sample
    assert acquire.imagenet_sample(tmp_path / "ilsvrc", 7, seed=1) != sample
    # a larger sample with the same seed extends the smaller one (ranking, not reshuffling)
    assert set(sample) <= set(acquire.imagenet_sample(tmp_path / "ilsvrc", 12, seed=0))
    dest = tmp_path / "data" / "train" / "ImageNet"
    acquire.link_subset(tmp_path / "ilsvrc", sample, dest)
    linked = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.JPEG"))
    assert linked == sample
    assert all((dest / n).is_symlink() and (dest / n).read_bytes() == n.encode() for n in sample)


def test_imagenet_sample_larger_than_the_folder_is_refused(tmp_path):
    _ilsvrc(tmp_path / "ilsvrc")
    with pytest.raises(UserError, match="holds only 30 images"):
        acquire.imagenet_sample(tmp_path / "ilsvrc", 31, seed=0)


# --- bundled photographs and the CLI ------------------------------------------------------


def test_bundled_test_set_through_the_cli(tmp_path):
    out, manifest = tmp_path / "SkimageTest", tmp_path / "SkimageTest.sha256"
    argv = ["data", "bundled", "SkimageTest", "--out", str(out), "--manifest", str(manifest)]
    assert cli.main(argv) == 0
    names = sorted(p.stem for p in out.iterdir())
    assert names == sorted(datasets.TEST_IMAGES)
    sums = read_sums(manifest)
    assert (
        sums[f"{names[0]}.png"]
        == hashlib.sha256((out / f"{names[0]}.png").read_bytes()).hexdigest()
    )


def test_cli_reports_a_bad_mirror_as_one_line(tmp_path, capsys):
    argv = [
        "data",
        "mirror",
        "benchmarks/Set5",
        "--mirror",
        str(tmp_path),
        "--manifest",
        str(tmp_path / "m"),
    ]
    assert cli.main(argv) == cli.EXIT_USER_ERROR
    assert "has no benchmarks/Set5/ folder" in capsys.readouterr().err


# --- which sources a configuration can use ------------------------------------------------


def _config(*sets: str):
    return load_config(REPO / "params.yaml", [], list(sets))


def test_paper_config_needs_only_downloads():
    config = _config()
    acquire.check_sources(config)
    assert paths.train_set_name(config) == "DIV2K"
    assert acquire.test_set_names(config) == ["Set5", "Set14", "BSD100"]


@pytest.mark.parametrize(
    ("sets", "why"),
    [
        (["data.train_set=T91"], "data.train_set T91 has no download"),
        (["evaluate.datasets=[Urban100]"], "test set Urban100 .* has no download"),
        (["data.train_set=ImageNet"], "data.imagenet_dir is not set"),
        (["data.train_set=ImageNet", "data.train_dir=/x"], "data.train_dir is for .* folder"),
        (["data.mirror=/nonexistent/mirror"], "data.mirror: /nonexistent/mirror is not a folder"),
    ],
)
def test_unusable_sources_fail_naming_the_key(sets, why):
    with pytest.raises(UserError, match=why):
        acquire.check_sources(_config(*sets))


def test_mirror_must_hold_the_configured_sets(tmp_path):
    mirror = _mirror(tmp_path / "mirror")
    with pytest.raises(UserError, match="test set Set5 .* is not in data.mirror"):
        acquire.check_sources(_config(f"data.mirror={mirror}"))
    with pytest.raises(UserError, match="data.train_set DIV2K is not in data.mirror"):
        sets = [f"data.mirror={mirror}", "data.test_sets=[SetX]", "evaluate.datasets=[SetX]"]
        acquire.check_sources(_config(*sets, "workflow.depth.dataset=SetX"))


def test_skimage_training_set_name_and_folder():
    config = _config("data.train_set=skimage")
    assert paths.train_set_name(config) == datasets.BUNDLED_TRAIN_SET
    assert os.fspath(paths.train_images_dir(config)) == "data/train/SkimageTrain"


@pytest.mark.process
def test_the_workflows_modules_do_not_import_torch():
    """The Snakefile imports these at every start: they must stay free of torch."""
    modules = "srgan.data.acquire, srgan.core.paths, srgan.core.variants, srgan.core.config"
    code = f"import sys, {modules}; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
