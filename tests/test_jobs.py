"""The dataset job engine: resume, rejects, bugs that surface, and datasets that do not depend on the engine."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from interanimate.data.jobs import JobError, JobItem, run_jobs
from interanimate.data.manifest import read_manifest
from interanimate.data.synth.generator import REPORT_NAME, generate_dataset
from interanimate.data.validate import validate_dataset
from interanimate.taxonomy import UnknownNameError, get_pattern, resolve_patterns

NAMES = ["poke_nose", "pinch_chni", "stroke_jaw", "swipe_face_downward"]  # one typo: an expected error


def _items(names=NAMES) -> list[JobItem]:
    return [JobItem(f"item-{i}", name) for i, name in enumerate(names)]


@pytest.mark.parametrize("workers", [1, 2])
def test_expected_errors_become_rejects_and_the_run_goes_on(workers):
    report = run_jobs(_items(), get_pattern, workers=workers, progress=False)
    assert {k: v.name for k, v in report.results.items()} == {"item-0": "poke_nose", "item-2": "stroke_jaw",
                                                                "item-3": "swipe_face_downward"}
    [reject] = report.rejects
    assert (reject.id, reject.reason) == ("item-1", UnknownNameError.__name__) and "did you mean" in reject.message
    assert "4 items: 3 done, 0 already done, 1 rejected" in report.table() and "item-1" in report.table()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_bug_in_a_worker_ends_the_run_with_its_traceback(workers):
    with pytest.raises(ValueError, match="invalid literal") as err:
        run_jobs([JobItem("a", "1"), JobItem("b", "x"), JobItem("c", "3")], int, workers=workers, progress=False)
    if workers > 1:  # the worker's own traceback travels with the error
        assert "Traceback" in str(err.value.__cause__)


def test_done_items_are_skipped_and_repeated_ids_rejected(tmp_path):
    items = _items(["poke_nose", "stroke_jaw"]) + [JobItem("item-0", "pinch_chin")]
    report = run_jobs(items, get_pattern, done=lambda item: item.payload == "stroke_jaw", progress=False)
    assert list(report.results) == ["item-0"] and report.skipped == ["item-1"]
    assert [(r.id, r.reason) for r in report.rejects] == [("item-0", "duplicate_id")]
    written = json.loads(report.write(tmp_path / "report.json").read_text())
    assert written["counts"] == {"items": 3, "done": 1, "resumed": 1, "rejected": 1}
    assert written["rejects"][0]["reason"] == "duplicate_id"


@pytest.mark.parametrize("kwargs, message", [({"engine": "spark"}, "unknown engine"), ({"workers": 0}, "--workers"),
                                             ({"address": "auto"}, "--address is only used with --engine ray")])
def test_bad_engine_settings_are_user_errors(kwargs, message):
    with pytest.raises(JobError, match=message):
        run_jobs(_items(), get_pattern, progress=False, **kwargs)


# ---- the same dataset whatever runs it ------------------------------------------------------------------------

SYNTH = dict(num_subjects=2, clips_per_pattern=1, num_frames=8, size=64, seed=3,
             patterns=resolve_patterns(["poke_nose", "pinch_chin"]), progress=False)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fingerprint(root: Path) -> tuple[dict[str, str], list[dict]]:
    """Annotation bytes per clip and the manifest rows without the video entry (H.264 bytes may differ run to run;
    the promise is identical labels)."""
    rows = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    for row in rows:
        row["files"].pop("video")
    return {p.parent.name: _sha(p) for p in sorted((root / "clips").glob("*/annotations.npz"))}, rows


@pytest.fixture(scope="module")
def synth_reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "one-worker"
    generate_dataset(out, workers=1, **SYNTH)
    return out


def test_synth_two_workers_write_the_dataset_one_worker_writes(synth_reference, tmp_path):
    summary = generate_dataset(tmp_path / "two", workers=2, **SYNTH)
    assert summary["clips_written"] == 4 and summary["clips_rejected"] == 0
    digests, rows = _fingerprint(tmp_path / "two")
    assert len(digests) == 4 and (digests, rows) == _fingerprint(synth_reference)
    assert json.loads((tmp_path / "two" / REPORT_NAME).read_text())["counts"]["done"] == 4


@pytest.mark.slow
def test_synth_killed_with_two_workers_resumes_without_duplicates(synth_reference, tmp_path):
    out = tmp_path / "killed"
    settings = {**SYNTH, "num_subjects": 6, "patterns": [p.name for p in SYNTH["patterns"]]}
    code = ("import sys; from interanimate.data.synth.generator import generate_dataset; "
            "from interanimate.taxonomy import resolve_patterns; "
            f"s = {settings!r}; s['patterns'] = resolve_patterns(s['patterns']); "
            "generate_dataset(sys.argv[1], workers=2, **s)")
    process = subprocess.Popen([sys.executable, "-c", code, str(out)])
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "clips").glob("synth*"))) < 2:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()

    def visible() -> list[str]:
        return sorted(p.name for p in (out / "clips").iterdir() if not p.name.startswith("."))

    survivors = visible()
    time.sleep(3.0)  # a worker outliving the driver would go on publishing clips
    assert visible() == survivors, "clips appeared after the run was killed"
    assert 2 <= len(survivors) < 12
    summary = generate_dataset(out, workers=2, **{**SYNTH, "num_subjects": 6})
    assert summary["clips_skipped"] == len(survivors) and summary["clips_written"] == 12 - len(survivors)
    records = read_manifest(out)
    assert len(records) == len({r.clip_id for r in records}) == 12
    digests, _ = _fingerprint(out)
    reference, _ = _fingerprint(synth_reference)
    assert {k: digests[k] for k in reference} == reference  # the first two subjects' clips, byte for byte
    assert validate_dataset(out).ok


@pytest.mark.slow
def test_synth_on_ray_writes_the_dataset_local_writes(synth_reference, tmp_path):
    pytest.importorskip("ray", reason="the Ray engine needs the 'ray' extra")
    generate_dataset(tmp_path / "ray", workers=2, engine="ray", **SYNTH)
    assert _fingerprint(tmp_path / "ray") == _fingerprint(synth_reference)


def _animate(photo: Path, dataset: Path, *engine: str) -> None:
    from interanimate.pipelines.command import main

    argv = ["--reference", str(photo), "--pattern", "poke_nose", "pinch_chin", "stroke_jaw", "--size", "64",
            "--frames", "8", "--as-dataset", str(dataset), "--quiet", *engine]
    assert main(argv) == 0


@pytest.fixture(scope="module")
def animate_reference(astronaut_png, tmp_path_factory) -> Path:
    dataset = tmp_path_factory.mktemp("animate") / "one-worker"
    _animate(astronaut_png, dataset)
    return dataset


@pytest.mark.slow  # each spawned worker loads the face models: about 40 s on two busy cores
def test_animate_as_dataset_two_workers_write_the_dataset_one_worker_writes(astronaut_png, animate_reference,
                                                                            tmp_path, capsys):
    _animate(astronaut_png, tmp_path / "two", "--workers", "2")
    assert "3 items: 3 done, 0 already done, 0 rejected" in capsys.readouterr().out
    digests, rows = _fingerprint(tmp_path / "two")
    assert len(digests) == 3 and (digests, rows) == _fingerprint(animate_reference)


@pytest.mark.slow
def test_animate_as_dataset_on_ray_writes_the_dataset_local_writes(astronaut_png, animate_reference, tmp_path):
    pytest.importorskip("ray", reason="the Ray engine needs the 'ray' extra")
    _animate(astronaut_png, tmp_path / "ray", "--engine", "ray", "--workers", "2")
    assert _fingerprint(tmp_path / "ray") == _fingerprint(animate_reference)


def test_animate_batch_rejects_are_reported_and_the_rest_is_written(astronaut_png, tmp_path, capsys):
    from interanimate.pipelines.command import REPORT_NAME, main

    (tmp_path / "blank.png").write_bytes(cv2.imencode(".png", 0 * cv2.imread(str(astronaut_png)))[1].tobytes())
    batch = tmp_path / "batch.jsonl"
    batch.write_text("\n".join(json.dumps(line) for line in [
        {"reference": str(astronaut_png), "pattern": "poke_nose"},
        {"reference": "blank.png", "pattern": "poke_nose"},
        {"reference": str(astronaut_png), "pattern": "poke_nsoe"}]) + "\n")
    dataset = tmp_path / "ds"
    argv = ["--batch", str(batch), "--size", "64", "--frames", "8", "--as-dataset", str(dataset), "--quiet"]
    assert main(argv) == 1  # some clips failed
    report = json.loads((dataset / REPORT_NAME).read_text())
    assert report["counts"] == {"items": 3, "done": 1, "resumed": 0, "rejected": 2}
    messages = [r["message"] for r in report["rejects"]]
    assert "greyscale" in messages[0] and "did you mean 'poke_nose'" in messages[1]
    assert len(read_manifest(dataset)) == 1
    assert "3 items: 1 done, 0 already done, 2 rejected" in capsys.readouterr().out
    assert main(argv) == 1  # re-run: the finished clip is skipped, the rejects are tried again
    assert json.loads((dataset / REPORT_NAME).read_text())["counts"] == {"items": 3, "done": 0, "resumed": 1,
                                                                         "rejected": 2}


@pytest.mark.slow
def test_animate_diffusion_as_dataset_two_workers_write_the_labels_one_worker_writes(astronaut_png, tmp_path):
    import torch

    from interanimate.models import InterAnimateModel
    from interanimate.training.config import load_config

    torch.manual_seed(0)
    model = tmp_path / "model"
    InterAnimateModel.from_config(load_config("tiny").model, sample_size=32).save_pretrained(model)
    for workers in ("1", "2"):
        _animate(astronaut_png, tmp_path / workers, "--checkpoint", str(model), "--num-inference-steps", "1",
                 "--workers", workers)
    one, two = _fingerprint(tmp_path / "1"), _fingerprint(tmp_path / "2")
    assert len(one[0]) == 3 and one == two
