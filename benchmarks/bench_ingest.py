"""Ingestion speed: images per second for PNG, JPEG and DICOM through `mmedrag.ingest.ingest` (read, decode,
check, write the manifest), with 1, 2 and 4 decoding threads, and peak memory at two corpus sizes to show that
ingestion streams (memory must not grow with the number of images).

Images are synthetic 512x512 (8-bit grey for PNG/JPEG, 16-bit CT for DICOM) written to a temporary folder.

Run:  .venv/bin/python benchmarks/bench_ingest.py --out BENCHMARKS.md        (about 2 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from benchlib import machine, write_section

SIZE = 512


def make_corpus(folder: Path, kind: str, count: int) -> Path:
    """``count`` images of ``kind`` with a sidecar text each, in the layout the folder reader takes."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    base = (rng.random((SIZE // 8, SIZE // 8)) * 255).astype(np.uint8)
    for i in range(count):
        noise = rng.integers(0, 8, (SIZE, SIZE), dtype=np.uint8)
        pixels = np.asarray(Image.fromarray(base).resize((SIZE, SIZE)), dtype=np.uint8) + noise
        stem = folder / f"img{i:05d}"
        if kind == "dicom":
            write_ct(stem.with_suffix(".dcm"), pixels.astype(np.int16) * 8 - 1024)
        else:
            Image.fromarray(pixels).save(stem.with_suffix(".png" if kind == "png" else ".jpg"))
        stem.with_suffix(".txt").write_text(f"Synthetic report {i}: no acute findings.", encoding="utf-8")
    return folder


def write_ct(path: Path, hu: np.ndarray) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.SOPClassUID, dataset.SOPInstanceUID = CTImageStorage, generate_uid()
    dataset.Modality, dataset.PatientID = "CT", "BENCH"
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID = generate_uid(), generate_uid()
    dataset.RescaleSlope, dataset.RescaleIntercept = 1, 0
    dataset.set_pixel_data(hu.astype(np.int16), "MONOCHROME2", 16)
    dataset.save_as(path, enforce_file_format=True)


def timed_ingest(folder: Path, workers: int) -> dict:
    """Ingest in a fresh process so peak RSS belongs to this run alone."""
    code = (
        "import json, resource, sys, time\n"
        "from mmedrag.ingest import ingest\n"
        "start = time.perf_counter()\n"
        f"report = ingest({str(folder)!r}, {str(folder / 'm.jsonl')!r}, 'folder', workers={workers})\n"
        "print(json.dumps({'seconds': time.perf_counter() - start, 'written': report.written,"
        " 'errors': len(report.errors), 'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=400, help="images per format (default 400)")
    parser.add_argument("--out", help="BENCHMARKS.md to update (default: print only)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("png", "jpeg", "dicom"):
            folder = make_corpus(Path(tmp) / kind, kind, args.count)
            for workers in (1, 2, 4):
                result = timed_ingest(folder, workers)
                rows.append((kind, workers, args.count / result["seconds"], result["peak_rss_mb"], result["errors"]))
                print(
                    f"{kind} workers={workers}: {rows[-1][2]:.0f} images/s, peak RSS {rows[-1][3]:.0f} MB",
                    file=sys.stderr,
                )
        small = timed_ingest(make_corpus(Path(tmp) / "mem_small", "png", args.count // 4), 4)
        large = timed_ingest(make_corpus(Path(tmp) / "mem_large", "png", args.count * 2), 4)
    lines = [
        "## Ingestion (`benchmarks/bench_ingest.py`)",
        "",
        f"Machine: {machine()}.",
        "",
        f"{args.count} synthetic {SIZE}x{SIZE} images per format, each with a sidecar report, through `ingest` "
        "(folder reader, every image decoded and checked, manifest written).",
        "",
        "| format | decoding threads | images/s | peak RSS MB |",
        "|---|--:|--:|--:|",
        *(f"| {kind} | {workers} | {rate:.0f} | {rss:.0f} |" for kind, workers, rate, rss, _ in rows),
        "",
        f"Streaming: peak RSS {small['peak_rss_mb']:.0f} MB for {args.count // 4} images and "
        f"{large['peak_rss_mb']:.0f} MB for {args.count * 2} images (PNG, 4 threads).",
    ]
    print("\n".join(lines))
    if args.out:
        write_section(args.out, "bench_ingest", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
