"""`interanimate train` leaves a picture of its curves in the run folder."""

import cv2

from interanimate.cli import main
from interanimate.data.sketch import SketchConfig, write_sketch_dataset
from interanimate.training.curves import read_scalars


def test_train_command_writes_loss_curves(tmp_path, capsys):
    data = tmp_path / "data"
    write_sketch_dataset(data, num_subjects=2, seed=0, config=SketchConfig(8, 32, 8.0),
                         patterns=["poke_nose", "stroke_jaw"])
    run = tmp_path / "run"
    code = main(["train", "--preset", "tiny", "--data", str(data), "--out", str(run), "--max-steps", "4",
                 "--no-progress", "train.validate_every=0"])
    assert code == 0
    assert f"loss curves: {run / 'loss.png'}" in capsys.readouterr().out
    steps, loss = read_scalars(run)["train/loss"]
    assert len(steps) == 4 and (loss > 0).all()
    picture = cv2.imread(str(run / "loss.png"))
    assert picture is not None and picture.std() > 5
