"""The trainer: exact resume after a kill, DDP across two CPU processes, configs."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from seqpose_core.checkpoint import read_meta
from training.config import load_config
from training.train import main

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "training" / "configs" / "synthetic_tiny.yaml"


def overrides(synth_root, out_dir, **extra):
    values = {
        "data.root": str(synth_root),
        "data.clip_length": 2,
        "model.memory_frames": 1,
        "data.extra_roots": "[]",
        "data.val_root": "''",
        "run.allow_test_validation": "true",  # these runs never validate
        "data.workers": 0,
        "model.input_size": "[112,154]",
        "optim.batch_size": 2,
        "optim.warmup_steps": 2,
        "run.out_dir": str(out_dir),
        "run.max_steps": 6,
        "run.eval_every_epochs": 0,
        "run.log_every": 1,
        **extra,
    }
    return ["--config", str(CONFIG), "--set", *[f"{k}={v}" for k, v in values.items()]]


def step_of(path):
    try:
        return torch.load(path, weights_only=True)["step"]
    except (FileNotFoundError, RuntimeError, EOFError):
        return 0


def test_killed_run_resumes_to_the_same_parameters(synth_root, tmp_path):
    assert main(overrides(synth_root, tmp_path / "straight")) == 0
    args = overrides(synth_root, tmp_path / "killed", **{"run.checkpoint_every": 1})
    proc = subprocess.Popen(
        [sys.executable, "-m", "training.train", *args],
        cwd=ROOT,
        env={
            **os.environ,
            "OMP_NUM_THREADS": str(torch.get_num_threads()),
        },  # bit for bit: the same reductions
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    last = tmp_path / "killed" / "synthetic_tiny" / "last.pt"
    deadline = time.monotonic() + 240
    while step_of(last) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = step_of(last)
    assert 2 <= killed_at < 6
    seconds_at_kill = torch.load(last, weights_only=True)["seconds"]
    assert main([*args, "--resume"]) == 0
    a = load_file(tmp_path / "straight" / "synthetic_tiny" / "final.safetensors")
    b = load_file(tmp_path / "killed" / "synthetic_tiny" / "final.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resuming from step {killed_at}"
    killed_seconds = read_meta(tmp_path / "killed" / "synthetic_tiny" / "final.safetensors")["train_seconds"]
    assert killed_seconds > seconds_at_kill > 0  # summed over the killed process and the resumed one
    rows = (tmp_path / "killed" / "synthetic_tiny" / "train.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3", "4", "5", "6"]


def test_two_process_torchrun_agrees_on_parameters(synth_root, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    args = overrides(synth_root, tmp_path, **{"run.max_steps": 2})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    logs = tmp_path / "ranks"
    cmd = [
        str(torchrun),
        "--standalone",
        "--nproc_per_node",
        "2",
        "--log-dir",
        str(logs),
        "--redirects",
        "3",
        "-m",
        "training.train",
        *args,
    ]
    try:
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180, env=env)
    except subprocess.TimeoutExpired:
        ranks = "\n".join(f"{p}:\n{p.read_text()[-2000:]}" for p in sorted(logs.rglob("*.log")))
        raise AssertionError(f"torchrun timed out; per-rank logs:\n{ranks}") from None
    assert out.returncode == 0, out.stderr[-3000:]
    out.stdout += "".join(p.read_text() for p in sorted(logs.rglob("stdout.log")))
    sums = dict(re.findall(r"rank (\d) parameter checksum (\S+ \S+)", out.stdout))
    assert set(sums) == {"0", "1"} and sums["0"] == sums["1"], out.stdout
    assert (tmp_path / "synthetic_tiny" / "final.safetensors").is_file()


def test_every_shipped_config_loads_and_bad_keys_are_named(tmp_path):
    for path in (ROOT / "training" / "configs").glob("*.yaml"):
        cfg = load_config(path)
        assert cfg.run.name and cfg.optim.lr > 0
    assert load_config(ROOT / "training" / "configs" / "real_mf.yaml").multi_frame
    assert not load_config(ROOT / "training" / "configs" / "camera_sf.yaml").multi_frame
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  learning_rate: 0.1\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: optim: unknown keys \['learning_rate'\]"):
        load_config(bad)
    bad.write_text("model:\n  encoder: vitx\n")
    with pytest.raises(ValueError, match="encoder must be one of"):
        load_config(bad)


class Poison:
    """Wraps train_step: from call ``start`` on (up to ``stop``), one gradient becomes NaN.
    Records the parameters as each call begins, so a skipped step can be checked."""

    def __init__(self, real, start: int, stop: int):
        self.real, self.start, self.stop, self.calls, self.seen = real, start, stop, 0, []

    def __call__(self, model, criterion, *args):
        self.calls += 1
        self.seen.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        losses = self.real(model, criterion, *args)
        if self.start <= self.calls <= self.stop:
            next(p for p in model.parameters() if p.grad is not None).grad.view(-1)[0] = float("nan")
        return losses


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_non_finite_step_is_skipped_without_touching_the_weights(synth_root, tmp_path, monkeypatch):
    import training.train as train_module

    poison = Poison(train_module.train_step, start=3, stop=3)
    monkeypatch.setattr(train_module, "train_step", poison)
    assert main(overrides(synth_root, tmp_path)) == 0
    assert poison.calls == 6
    assert same(poison.seen[2], poison.seen[3]), "the poisoned step 3 changed the weights"
    assert not same(poison.seen[1], poison.seen[2]), "ordinary steps must change the weights"
    final = load_file(tmp_path / "synthetic_tiny" / "final.safetensors")
    assert all(torch.isfinite(v).all() for v in final.values())
    meta = read_meta(tmp_path / "synthetic_tiny" / "final.safetensors")
    assert meta["step"] == 6 and 0 < meta["train_seconds"] < 600


def test_a_diverged_run_stops_and_keeps_its_last_good_checkpoint(synth_root, tmp_path, monkeypatch):
    import training.train as train_module

    poison = Poison(train_module.train_step, start=3, stop=99)
    monkeypatch.setattr(train_module, "train_step", poison)
    args = overrides(synth_root, tmp_path, **{"run.checkpoint_every": 1, "run.max_bad_steps": 2})
    with pytest.raises(RuntimeError, match=r"stopped at step 4: 2 steps in a row had non-finite gradients"):
        main(args)
    state = torch.load(tmp_path / "synthetic_tiny" / "last.pt", weights_only=True)
    assert state["step"] == 3  # step 3 was skipped, so its checkpoint holds step 2's weights
    assert same(state["model"], poison.seen[2])
    with pytest.raises(FileExistsError, match="continue that run with --resume"):
        main(args)  # a fresh start would overwrite it


def test_training_curves_read_the_logs_and_name_an_empty_one(tmp_path):
    from training.curves import plot_run, read_log
    from training.logs import CsvLog

    train = CsvLog(tmp_path / "train.csv", 0)
    for step in (10, 20, 30):
        train.write(step, {"total": 3.0 / step, "translation": 0.1, "depth": 0.2, "lr": 1e-3})
    CsvLog(tmp_path / "val.csv", 0).write(30, {"IoU25": 0.25, "10cm": 0.5, "10deg": 0.4, "10deg10cm": 0.3})
    log = read_log(tmp_path / "train.csv")
    assert log["step"].tolist() == [10, 20, 30] and log["total"][2] == pytest.approx(0.1)
    plot_run(tmp_path, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "val.csv").write_text("step,IoU25\n")
    with pytest.raises(ValueError, match=r"val\.csv: no logged rows"):
        plot_run(tmp_path, tmp_path / "curves.png")


def test_init_from_starts_from_trained_weights_at_another_input_size(synth_root, tmp_path, monkeypatch):
    import training.train as train_module

    assert main(overrides(synth_root, tmp_path / "a", **{"run.max_steps": 2})) == 0
    source = tmp_path / "a" / "synthetic_tiny" / "final.safetensors"
    recorder = Poison(train_module.train_step, start=1, stop=0)  # records, poisons nothing
    monkeypatch.setattr(train_module, "train_step", recorder)
    resized = {"run.max_steps": 1, "run.init_from": str(source), "model.input_size": "[126,168]"}
    assert main(overrides(synth_root, tmp_path / "b", **resized)) == 0
    assert same(recorder.seen[0], load_file(source)), "fine-tuning must start from the given weights"
    wider = {**resized, "model.d_model": 32}
    with pytest.raises(ValueError, match=r"run\.init_from .*do not fit"):
        main(overrides(synth_root, tmp_path / "c", **wider))


def test_init_from_leaves_a_new_head_untrained_but_refuses_tensors_the_model_lacks(
    synth_root, tmp_path, monkeypatch, capsys
):
    import training.train as train_module

    assert main(overrides(synth_root, tmp_path / "a", **{"run.max_steps": 1})) == 0
    source = tmp_path / "a" / "synthetic_tiny" / "final.safetensors"
    recorder = Poison(train_module.train_step, start=1, stop=0)
    monkeypatch.setattr(train_module, "train_step", recorder)
    headed = {"run.max_steps": 1, "run.init_from": str(source), "model.heading_bins": 24}
    assert main(overrides(synth_root, tmp_path / "b", **headed)) == 0
    start, trained = recorder.seen[0], load_file(source)
    assert same({k: v for k, v in start.items() if ".heading." not in k}, trained)
    assert "6 tensors start untrained" in capsys.readouterr().out
    back = {"run.max_steps": 1, "run.init_from": str(tmp_path / "b" / "synthetic_tiny" / "final.safetensors")}
    with pytest.raises(ValueError, match=r"run\.init_from .*does not have: \['decoder\.heads\.0\.heading"):
        main(overrides(synth_root, tmp_path / "c", **back))


def test_a_test_split_as_validation_is_refused_unless_monitored_and_never_keeps_a_best(synth_root, tmp_path):
    real = ROOT / "training" / "configs" / "real_sf.yaml"
    with pytest.raises(ValueError, match=r"run\.allow_test_validation"):
        load_config(real, ["data.val_subset=real_test"])
    assert load_config(real).data.val_subset == "camera_val"  # the shipped REAL configs run as they are
    args = overrides(synth_root, tmp_path, **{"run.max_steps": 2, "run.eval_every_epochs": 1})
    assert main(args) == 0  # allow_test_validation: validated for monitoring only
    run = tmp_path / "synthetic_tiny"
    assert (run / "val.csv").is_file() and not (run / "best.safetensors").exists()
    assert (run / "final.safetensors").is_file()


def test_two_runs_of_a_config_give_identical_weights(synth_root, tmp_path):
    for name in ("a", "b"):
        assert main(overrides(synth_root, tmp_path / name, **{"run.max_steps": 3})) == 0
    a = load_file(tmp_path / "a" / "synthetic_tiny" / "final.safetensors")
    b = load_file(tmp_path / "b" / "synthetic_tiny" / "final.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
