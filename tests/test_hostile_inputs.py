"""Every command against bad input: exit status 2 (or a refusal record), one line naming the input, no traceback,
nothing already written lost. Tampered datasets and shards, non-finite and out-of-range numbers, unwritable and
full outputs (a read-only tmpfs where this machine can mount one, an injected ENOSPC otherwise)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from interanimate.cli import main
from interanimate.data.io import atomic_write_bytes, sha256_file
from interanimate.data.manifest import (
    ClipRecord,
    DatasetFormatError,
    UnsafePathError,
    read_manifest,
    write_manifest,
)


def _cli(argv, capsys) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse usage errors
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(err: str, *names: str) -> str:
    """The error line of a failed command (argparse adds its usage line above it); it names every ``names``."""
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if "error:" in line]
    assert len(lines) == 1, err
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


# --- non-finite and out-of-range numbers, refused at parse time -------------------------------------------

BAD_NUMBERS = [
    (["synth", "--out", "{tmp}/s", "--fps", "1e-9"], "--fps"),
    (["synth", "--out", "{tmp}/s", "--fps", "nan"], "--fps"),
    (["synth", "--out", "{tmp}/s", "--fps", "inf"], "--fps"),
    (["synth", "--out", "{tmp}/s", "--seed", "-1"], "--seed"),
    (["synth", "--out", "{tmp}/s", "--test-fraction", "nan"], "--test-fraction"),
    (["annotate", "{tmp}/v.mp4", "--out", "{tmp}/a", "--padding", "nan"], "--padding"),
    (["annotate", "{tmp}/v.mp4", "--out", "{tmp}/a", "--max-clip-seconds", "-inf"], "--max-clip-seconds"),
    (["animate", "--pattern", "poke_nose", "--checkpoint", "{tmp}", "--out", "{tmp}/o", "--guidance-scale", "nan"],
     "--guidance-scale"),
    (["animate", "--pattern", "poke_nose", "--checkpoint", "{tmp}", "--out", "{tmp}/o", "--num-inference-steps",
      "-1"], "--num-inference-steps"),
    (["animate", "--pattern", "poke_nose", "--checkpoint", "{tmp}", "--out", "{tmp}/o", "--num-inference-steps",
      "5000"], "--num-inference-steps"),
    (["animate", "--pattern", "poke_nose", "--checkpoint", "{tmp}", "--out", "{tmp}/o", "--fps", "inf"], "--fps"),
    (["animate", "--pattern", "poke_nose", "--checkpoint", "{tmp}", "--out", "{tmp}/o", "--seed", "-1"], "--seed"),
    (["data", "validate", "{tmp}", "--max-violations", "-1"], "--max-violations"),
]


@pytest.mark.parametrize("argv,option", BAD_NUMBERS, ids=[f"{a[0]} {o} {a[-1]}" for a, o in BAD_NUMBERS])
def test_bad_numbers_are_usage_errors(argv, option, tmp_path, capsys):
    code, _, err = _cli([a.format(tmp=tmp_path) for a in argv], capsys)
    assert code == 2
    _one_line_error(err, option)
    assert not (tmp_path / "s").exists() and not (tmp_path / "o").exists()  # nothing started


def test_blink_loop_refuses_a_frame_rate_that_would_not_end():
    import numpy as np

    from interanimate.data.synth.choreography import head_motion

    for fps in (1e-9, float("nan"), 0.0):
        with pytest.raises(ValueError, match="fps"):
            head_motion(48, fps, np.random.default_rng(0))


def test_sampler_refuses_more_steps_than_timesteps_and_nan_guidance():
    import torch

    from interanimate.diffusion.sampler import sample
    from interanimate.diffusion.schedule import NoiseSchedule

    schedule = NoiseSchedule(num_train_timesteps=10)
    conditions = torch.zeros(1, 9, 2, 16, 16)
    with pytest.raises(ValueError, match="num_inference_steps"):
        sample(None, torch.zeros(1, 3, 16, 16), conditions, [0], schedule=schedule, num_inference_steps=11)
    with pytest.raises(ValueError, match="guidance_scale"):
        sample(None, torch.zeros(1, 3, 16, 16), conditions, [0], schedule=schedule, num_inference_steps=2,
               guidance_scale=float("nan"))


# --- tampered datasets: paths and clip ids that point outside ---------------------------------------------

def _tamper(root: Path, edit) -> ClipRecord:
    """Apply ``edit(record)`` to the first clip in the manifest (not record.json, as a hostile manifest would)."""
    records = read_manifest(root)
    edit(records[0])
    write_manifest(root, records)
    return records[0]


def _point_at(target: Path, relative: str):
    def edit(record: ClipRecord) -> None:
        record.files["annotations"] = {"path": relative, "sha256": sha256_file(target), "bytes": target.stat().st_size}
    return edit


@pytest.fixture
def outside_file(tmp_path) -> Path:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("not part of any dataset\n")
    return secret


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_manifest_paths_outside_the_dataset_are_named_and_refused(how, dataset_copy, outside_file, tmp_path,
                                                                  capsys):
    from interanimate.data.dataset import InterHFDataset

    if how == "absolute":
        relative = str(outside_file)
    elif how == "dotdot":
        relative = os.path.relpath(outside_file, dataset_copy)
        assert relative.startswith("..")
    else:
        link = dataset_copy / "clips" / "link.txt"
        link.symlink_to(outside_file)
        relative = "clips/link.txt"
    record = _tamper(dataset_copy, _point_at(outside_file, relative))

    code, out, err = _cli(["data", "validate", dataset_copy, "--quiet"], capsys)
    assert code == 1 and "Traceback" not in err
    assert any(record.clip_id in line and "files.annotations" in line for line in out.splitlines())
    assert "outside" in out or "absolute" in out

    packed = tmp_path / "packed"
    code, out, err = _cli(["data", "pack", dataset_copy, "--out", packed, "--quiet"], capsys)
    assert code == 1 and f"refused {record.clip_id}" in out
    for shard in packed.glob("*.tar"):
        with tarfile.open(shard) as tar:
            assert all(not m.name.startswith(record.clip_id) for m in tar.getmembers())
            assert all(b"not part of any dataset" not in tar.extractfile(m).read() for m in tar.getmembers())

    with pytest.raises(UnsafePathError, match=record.clip_id):
        InterHFDataset(dataset_copy, num_frames=2)


def test_clip_id_that_climbs_out_is_named_and_never_becomes_a_member(dataset_copy, tmp_path, capsys):
    records = read_manifest(dataset_copy)
    records[0].clip_id = "../../evilclip"
    write_manifest(dataset_copy, records)
    code, out, _ = _cli(["data", "validate", dataset_copy, "--quiet"], capsys)
    assert code == 1 and "'../../evilclip' is not a valid clip id" in out
    packed = tmp_path / "packed"
    code, out, _ = _cli(["data", "pack", dataset_copy, "--out", packed, "--quiet"], capsys)
    assert code == 1 and "refused ../../evilclip" in out
    for shard in packed.glob("*.tar"):
        with tarfile.open(shard) as tar:
            assert all(".." not in m.name and "/" not in m.name for m in tar.getmembers())
    assert not (tmp_path.parent / "evilclip.mp4").exists()


def test_edited_record_json_is_seen_by_validate_and_refused_by_writers(dataset_copy, capsys):
    from interanimate.data.writer import DatasetWriter

    record = read_manifest(dataset_copy)[0]
    path = dataset_copy / "clips" / record.clip_id / "record.json"
    data = json.loads(path.read_text())
    data["subject_id"] = "someone-else"  # would move the clip to the other split on the next finalize
    path.write_text(json.dumps(data))
    manifest_before = (dataset_copy / "manifest.jsonl").read_bytes()
    code, out, _ = _cli(["data", "validate", dataset_copy, "--quiet"], capsys)
    assert code == 1 and f"{record.clip_id}: record.json: differs from the manifest in subject_id" in out
    with pytest.raises(DatasetFormatError, match="subject_id"):
        DatasetWriter(dataset_copy, "test", "0")
    assert (dataset_copy / "manifest.jsonl").read_bytes() == manifest_before


@pytest.mark.parametrize("entry", [{"path": "../../outside/x.tar"}, {"path": "/etc/passwd"}, {"path": ""},
                                   {"path": 3}, "train-000000.tar"], ids=["dotdot", "absolute", "empty", "int", "str"])
def test_shard_index_entries_outside_the_folder_are_refused(entry, sketch_dataset, tmp_path, capsys):
    from interanimate.data.pack import ShardDataset, pack_dataset, verify_shards

    packed = tmp_path / "packed"
    pack_dataset(sketch_dataset, packed, clips_per_shard=64)
    index = json.loads((packed / "index.json").read_text())
    if isinstance(entry, dict):
        index["shards"][0] = {**index["shards"][0], **entry}
    else:
        index["shards"][0] = entry
    (packed / "index.json").write_text(json.dumps(index))
    for reader in (ShardDataset, verify_shards):
        with pytest.raises(DatasetFormatError, match=r"shards\[0\]"):
            reader(packed)


def test_a_shard_whose_record_names_another_clip_is_refused(sketch_dataset, tmp_path):
    import io

    import webdataset as wds

    from interanimate.data.pack import ShardDataset, pack_dataset

    packed = tmp_path / "packed"
    pack_dataset(sketch_dataset, packed, clips_per_shard=64, split="train")
    shard = next(packed.glob("train-*.tar"))
    buffer = io.BytesIO()
    with tarfile.open(shard) as tar, wds.TarWriter(buffer, encoder=False) as writer:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
        key = sorted(members)[0].split(".")[0]
        record = json.loads(members[f"{key}.json"])
        record["clip_id"] = "../../evilclip"
        writer.write({"__key__": key, "mp4": members[f"{key}.mp4"], "npz": members[f"{key}.npz"],
                      "json": json.dumps(record).encode()})
    shard.write_bytes(buffer.getvalue())
    with pytest.raises(UnsafePathError, match="evilclip"):
        next(iter(ShardDataset(packed, num_frames=2, shuffle_buffer=0)))


def test_batch_file_paths_must_stay_inside_its_folder(tmp_path, capsys):
    batch = tmp_path / "jobs" / "batch.jsonl"
    batch.parent.mkdir()
    batch.write_text(json.dumps({"reference": "../../etc/passwd", "pattern": "poke_nose"}) + "\n")
    code, _, err = _cli(["animate", "--batch", batch, "--checkpoint", tmp_path, "--out", tmp_path / "o"], capsys)
    assert code == 2
    _one_line_error(err, "reference", "outside")


def test_unreadable_manifest_and_card_are_one_line(dataset_copy, capsys):
    (dataset_copy / "manifest.jsonl").write_bytes(b"\xff\xfe not json\n")
    code, _, err = _cli(["data", "validate", dataset_copy, "--quiet"], capsys)
    assert code == 2
    _one_line_error(err, "manifest.jsonl")


# --- permissions ----------------------------------------------------------------------------------------

def test_dataset_files_and_folders_follow_the_umask(tmp_path):
    from interanimate.data.sketch import SketchConfig, write_sketch_dataset

    old = os.umask(0o022)
    try:
        root = tmp_path / "ds"
        write_sketch_dataset(root, num_subjects=2, clips_per_pattern=1, seed=0, config=SketchConfig(8, 32, 8.0),
                             patterns=["poke_nose"])
        atomic_write_bytes(tmp_path / "weights.safetensors", b"x")
    finally:
        os.umask(old)
    clip = next((root / "clips").iterdir())
    assert clip.stat().st_mode & 0o777 == 0o755
    for path in [root / "manifest.jsonl", root / "dataset_card.json", tmp_path / "weights.safetensors",
                 *clip.iterdir()]:
        assert path.stat().st_mode & 0o777 == 0o644, path


# --- unwritable and full outputs ------------------------------------------------------------------------

@pytest.fixture
def read_only_folder(tmp_path):
    """A read-only folder that stops root too: a read-only tmpfs mount (skipped where mounting is not allowed)."""
    target = tmp_path / "ro"
    target.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(target)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here; the injected-ENOSPC tests cover the same paths")
    yield target
    subprocess.run(["umount", str(target)], check=False)


def test_read_only_outputs_are_one_line_errors(read_only_folder, sketch_dataset, capsys):
    cases = [
        (["data", "pack", sketch_dataset, "--out", read_only_folder / "packed", "--quiet"], "packed"),
        (["data", "validate", sketch_dataset, "--quiet", "--json", read_only_folder / "report.json"], "report.json"),
        (["data", "stats", sketch_dataset, "--chart", read_only_folder / "chart.png"], "chart.png"),
        (["synth", "--out", read_only_folder / "synth", "--subjects", "1", "--no-progress"], "synth"),
        (["train", "--data", sketch_dataset, "--out", read_only_folder / "run", "--no-progress"], "run"),
        (["demo", "--out", read_only_folder / "demo", "--quick"], "demo"),
        (["evaluate", "--generated", sketch_dataset, "--reference", sketch_dataset, "--metrics", "pixel",
          "--max-clips", "1", "--quiet", "--out", read_only_folder / "report"], "report"),
    ]
    for argv, name in cases:
        code, _, err = _cli(argv, capsys)
        assert code == 2, argv
        _one_line_error(err, name)


def test_a_full_disk_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    from interanimate.data import io as data_io
    from interanimate.errors import OutputError

    path = tmp_path / "manifest.jsonl"
    path.write_text("old\n")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(data_io.os, "fsync", full)
    with pytest.raises(OutputError, match="manifest.jsonl: No space left"):
        atomic_write_bytes(path, b"new\n")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.jsonl"]


def test_a_full_disk_during_pack_and_validate_json_is_one_line(sketch_dataset, tmp_path, monkeypatch, capsys):
    from interanimate.data import io as data_io

    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(data_io.os, "fsync", full)
    code, _, err = _cli(["data", "pack", sketch_dataset, "--out", tmp_path / "packed", "--quiet"], capsys)
    assert code == 2
    _one_line_error(err, "packed", "No space left")
    code, _, err = _cli(["data", "validate", sketch_dataset, "--quiet", "--json", tmp_path / "v.json"], capsys)
    assert code == 2
    _one_line_error(err, "v.json")
    monkeypatch.setattr(data_io.os, "fsync", real_fsync)
    assert not (tmp_path / "v.json").exists()


def test_a_full_disk_while_writing_a_clip_leaves_no_clip(tmp_path, monkeypatch):
    from interanimate.data import io as data_io
    from interanimate.data.sketch import SketchConfig, write_sketch_dataset
    from interanimate.errors import OutputError

    root = tmp_path / "ds"
    write_sketch_dataset(root, num_subjects=1, clips_per_pattern=1, seed=0, config=SketchConfig(8, 32, 8.0),
                         patterns=["poke_nose"])
    before = sorted(p.name for p in (root / "clips").iterdir())
    manifest = (root / "manifest.jsonl").read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(data_io.os, "fsync", full)
    with pytest.raises(OutputError, match="No space left"):
        write_sketch_dataset(root, num_subjects=2, clips_per_pattern=1, seed=0, config=SketchConfig(8, 32, 8.0),
                             patterns=["poke_nose"])
    monkeypatch.undo()
    assert sorted(p.name for p in (root / "clips").iterdir()) == before  # no half clip, no staging folder
    assert (root / "manifest.jsonl").read_bytes() == manifest


# --- reruns and inputs that repeat ----------------------------------------------------------------------

def test_stats_chart_into_a_folder_writes_and_prints_that_file(sketch_dataset, tmp_path, capsys):
    code, out, _ = _cli(["data", "stats", sketch_dataset, "--chart", tmp_path], capsys)
    assert code == 0
    assert f"chart: {tmp_path / 'stats.png'}" in out
    assert (tmp_path / "stats.png").is_file() and not Path(f"{tmp_path}.png").exists()


def test_synth_refuses_another_seed_in_an_existing_dataset(tmp_path, capsys):
    from interanimate.data.writer import finalize_dataset

    out = tmp_path / "synth"
    (out / "clips").mkdir(parents=True)
    finalize_dataset(out, "interanimate-synth", "0", config={"seed": 1, "frames": 48, "size": 128, "fps": 25.0,
                                                             "motion_blur": False})
    card = (out / "dataset_card.json").read_bytes()
    code, _, err = _cli(["synth", "--out", out, "--seed", "2", "--subjects", "1", "--no-progress"], capsys)
    assert code == 2
    _one_line_error(err, "seed 1", "--out")
    assert (out / "dataset_card.json").read_bytes() == card


def test_annotate_inputs_skip_its_own_output_and_repeated_content(tmp_path):
    from interanimate.data.annotate.engine import _without_own_output
    from interanimate.data.annotate.video import discover_inputs

    out = tmp_path / "interhf"
    (out / "clips" / "c1").mkdir(parents=True)
    for folder in ("day1", "backup"):  # the same video under two folders: same key, would write the same clips
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.mp4").write_bytes(b"same bytes")
    (tmp_path / "b.mp4").write_bytes(b"other bytes")
    (out / "clips" / "c1" / "video.mp4").write_bytes(b"an earlier clip")
    found = discover_inputs([tmp_path])
    assert len(found) == 4 and len({i.key for i in found}) == 3
    kept = _without_own_output(found, out)
    assert sorted(str(Path(i.path).relative_to(tmp_path)) for i in kept) == ["b.mp4", "backup/a.mp4"]


@pytest.mark.slow
def test_killing_synth_ends_its_workers(tmp_path):
    import signal
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "interanimate.cli", "synth", "--out", str(tmp_path / "s"),
                             "--subjects", "4", "--workers", "2", "--no-progress"],
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def children() -> list[int]:
        found = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            except OSError:
                continue
            if fields.get("PPid", "").strip() == str(proc.pid):
                found.append(int(status.parent.name))
        return found

    deadline = time.time() + 60
    while len(children()) < 2 and time.time() < deadline:
        time.sleep(0.5)
    workers = children()
    assert len(workers) >= 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 20
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.time() < deadline:
        time.sleep(0.5)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()
             and "zombie" not in Path(f"/proc/{pid}/status").read_text()]
    for pid in alive:  # do not leave them running when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not alive
    shutil.rmtree(tmp_path / "s", ignore_errors=True)


# --- training settings refused at load time; runs that failed early or checkpoints that are damaged ----------

@pytest.mark.parametrize("override,named", [
    ("data.num_frames=64", "motion_max_seq_length"),
    ("data.num_frames=0", "data.num_frames"),
    ("data.resolution=18", "data.resolution"),
    ("data.resolution=2", "data.resolution"),
    ("train.learning_rate=.nan", "train.learning_rate"),
    ("train.learning_rate=.inf", "train.learning_rate"),
    ("train.learning_rate=!!python/object/apply:os.system [echo]", "train.learning_rate"),
])
def test_bad_training_settings_fail_at_load_time(override, named):
    from interanimate.training.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=named.replace(".", r"\.")) as info:
        load_config("tiny", [override])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["train: {learning_rate: [1,", "!!python/object/apply:os.system ['echo hi']\n",
                                  "train:\n  learning_rate: !!python/name:os.system\n"])
def test_broken_or_tagged_yaml_is_one_line(text, tmp_path, capsys):
    preset = tmp_path / "bad.yaml"
    preset.write_text(text)
    from interanimate.training.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="bad.yaml: not a plain YAML config") as info:
        load_config(preset)
    assert "\n" not in str(info.value)


def test_a_run_that_failed_before_its_first_checkpoint_takes_a_corrected_config(tmp_path):
    from interanimate.training.checkpoint import check_run_config, write_run_config
    from interanimate.training.config import load_config

    out = tmp_path / "run"
    write_run_config(out, load_config("tiny", ["data.num_frames=8"]))  # left by a run that died on its data
    assert check_run_config(out, load_config("tiny", ["data.num_frames=4"])) is False  # corrected: not refused


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    import torch
    from safetensors.torch import save_file

    from interanimate.training.checkpoint import checkpoint_dir, set_aside, usable_checkpoint

    for step in (1, 2):
        folder = checkpoint_dir(tmp_path, step)
        (folder / "model").mkdir(parents=True)
        save_file({"w": torch.zeros(64)}, str(folder / "model" / "diffusion_pytorch_model.safetensors"))
        (folder / "state.json").write_text(json.dumps({"global_step": step}))
    weights = checkpoint_dir(tmp_path, 2) / "model" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # a disk that filled mid-write
    found, skipped = usable_checkpoint(tmp_path)
    assert found == checkpoint_dir(tmp_path, 1)
    assert [f for f, _ in skipped] == [checkpoint_dir(tmp_path, 2)] and "damaged" in skipped[0][1]
    moved = set_aside(skipped[0][0])
    assert moved.is_dir() and usable_checkpoint(tmp_path) == (found, [])


def test_provenance_check_holds_a_few_frames_not_the_whole_video(tmp_path):
    import tracemalloc

    import numpy as np

    from interanimate import provenance
    from interanimate.data.io import encode_video

    frames = np.random.default_rng(0).integers(0, 256, (16, 512, 512, 3), np.uint8)
    path = tmp_path / "big.mp4"
    path.write_bytes(encode_video(provenance.embed_watermark(frames), 25, crf=30))
    whole = frames.nbytes + frames.size // 3 * 4  # the decoded RGB video plus its float luma
    del frames
    tracemalloc.start()
    report = provenance.check_file(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert report.frames == 16 and report.watermark_detected
    assert peak < whole / 3, (peak, whole)


def test_annotating_more_videos_matches_subjects_already_in_the_dataset(tmp_path):
    import dataclasses

    import numpy as np

    from interanimate.data.annotate.engine import _logged_results, assign_subjects
    from interanimate.data.annotate.pipeline import VideoResult, log_path
    from interanimate.data.writer import finalize_dataset

    out = tmp_path / "interhf"
    person = np.random.default_rng(0).normal(size=128).astype(np.float32)
    person /= np.linalg.norm(person)
    other = np.random.default_rng(1).normal(size=128).astype(np.float32)
    other /= np.linalg.norm(other)

    def video(key: str, embedding: np.ndarray) -> VideoResult:
        clip_id = f"{key}-c0"
        record = ClipRecord(clip_id=clip_id, subject_id=f"provisional-{key}", pattern=None, fps=25.0, num_frames=8,
                            width=32, height=32, source={"kind": "real", "origin": key})
        (out / "clips" / clip_id).mkdir(parents=True)
        (out / "clips" / clip_id / "record.json").write_text(record.to_json() + "\n")
        result = VideoResult(key=key, path=f"{key}.mp4", status="accepted", clips=[{"clip_id": clip_id}],
                             embedding=embedding.tolist())
        log_path(out, key).parent.mkdir(parents=True, exist_ok=True)
        log_path(out, key).write_text(json.dumps(dataclasses.asdict(result)))
        return result

    # First run: two people.
    first = [video("a", person), video("b", other)]
    rewritten: set[str] = set()
    assign_subjects(out, first, rewritten)
    finalize_dataset(out, "test", "0", test_fraction=0.5, rewritten=rewritten)
    # Second run: only the new video of the first person is passed on the command line.
    new = video("c", person + 0.01)
    earlier = [r for r in _logged_results(out) if r.key != "c"]
    rewritten = set()
    assign_subjects(out, [new] + earlier, rewritten)
    records = {r.clip_id: r for r in finalize_dataset(out, "test", "0", test_fraction=0.5, rewritten=rewritten)}
    assert records["c-c0"].subject_id == records["a-c0"].subject_id != records["b-c0"].subject_id
    assert records["c-c0"].split == records["a-c0"].split


def test_two_writers_of_one_clip_folder_the_second_is_refused_and_the_first_kept(tmp_path, monkeypatch):
    from interanimate.data import io as data_io
    from interanimate.data.io import atomic_directory

    final = tmp_path / "clips" / "c0"
    with pytest.raises(FileExistsError):
        with atomic_directory(final) as loser:
            (loser / "video.mp4").write_bytes(b"loser")
            with atomic_directory(final) as winner:
                (winner / "video.mp4").write_bytes(b"winner")
    assert (final / "video.mp4").read_bytes() == b"winner"

    def renamed_first(src, dst):  # the other writer renamed between the check and this rename
        raise OSError(errno.ENOTEMPTY, os.strerror(errno.ENOTEMPTY))

    monkeypatch.setattr(data_io.os, "replace", renamed_first)
    with pytest.raises(FileExistsError):
        with atomic_directory(tmp_path / "clips" / "c1") as late:
            (late / "video.mp4").write_bytes(b"late")
    assert (final / "video.mp4").read_bytes() == b"winner"
    assert not [p for p in final.parent.iterdir() if p.name.startswith(".tmp-")]
