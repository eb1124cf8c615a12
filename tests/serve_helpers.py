"""Helpers for the service tests: a small real knowledge base, a real ``mmedrag serve`` process on loopback."""

from __future__ import annotations

import base64
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from PIL import Image

from conftest import CORPUS, make_image
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.indexing import build_index
from mmedrag.types import Record

# Report text with markup: the page must show it as text, never run it (the knowledge base is user data too).
HOSTILE_TEXT = '<script>alert("kb")</script> Small right pleural effusion. <img src=x onerror=alert(1)>'


def knowledge_base(folder: Path, with_dicom: bool = True) -> Path:
    """An index (hash encoder, exact store) of the unit corpus, a record with markup and one DICOM-image record."""
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for number, (rid, text, domain, modality, patient, study, split) in enumerate(CORPUS):
        path = folder / f"{rid}.png"
        make_image(number, size=(64, 64)).save(path)
        records.append(
            Record(
                rid,
                text,
                (str(path),),
                domain=domain,
                modality=modality,
                patient_id=patient,
                study_id=study,
                split=split,
                source="unit",
            )
        )
    make_image(50, size=(64, 64)).save(folder / "html.png")
    records.append(
        Record("html", HOSTILE_TEXT, (str(folder / "html.png"),), domain="radiology", modality="xray", source="unit")
    )
    if with_dicom:
        from pydicom.data import get_testdata_file

        dicom = folder / "ct.dcm"
        shutil.copyfile(get_testdata_file("CT_small.dcm"), dicom)
        records.append(
            Record("ct-1", "Axial CT slice. No pleural effusion.", (str(dicom),), domain="radiology", modality="ct")
        )
    build_index(records, folder / "index", HashEncoder(dim=32), store="exact")
    return folder / "index"


def png_bytes(seed: int = 7, size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    make_image(seed, size=size).save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def dicom_bytes() -> bytes:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("CT_small.dcm")).read_bytes()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``mmedrag serve ARGS`` as a child process on a free loopback port; waits until ``/readyz`` is 200."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        code = "import sys; from mmedrag.cli import main; sys.exit(main(sys.argv[1:]))"
        environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
        src = str(Path(__file__).resolve().parents[1] / "src")
        environment["PYTHONPATH"] = os.pathsep.join(p for p in (src, environment.get("PYTHONPATH")) if p)
        self.log = log
        out = log.open("wb") if log else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, "serve", "--port", str(self.port), *args],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mmedrag serve exited with {self.process.returncode}: {self.output()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"mmedrag serve was not ready in {timeout} s: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log and self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def small_png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size).save(buffer, format="PNG")
    return buffer.getvalue()
