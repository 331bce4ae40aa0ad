"""The offline benchmark's bookkeeping: which runs answer for which settings, and how scores are normalised."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import offline  # benchmarks/ is not a package; its scripts import each other by path too

CALIBRATION = {"p99": 0.02, "max": 0.05}


def _dream_row(method: str, seed: int, cfg, ret: float) -> dict:
    agent = offline._agent_config(method, seed, cfg, CALIBRATION).to_dict()
    row = {"method": method, "seed": seed, "agent": agent, "return": ret, "dream_return": 2 * ret}
    return {**row, "returns": [ret] * cfg.eval_episodes}


def test_runs_are_keyed_by_their_settings() -> None:
    base = offline.OfflineConfig(datasets=["x"], agent_steps=1000)
    keys = {
        offline._run_key(_dream_row("dream", 0, cfg, 0.0), CALIBRATION)[2]
        for cfg in (
            base,
            offline.OfflineConfig(datasets=["x"], agent_steps=2000),
            offline.OfflineConfig(datasets=["x"], agent_steps=1000, warm_start=True),
            offline.OfflineConfig(datasets=["x"], agent_steps=1000, warm_start=True, critic_warmup_steps=500),
            offline.OfflineConfig(datasets=["x"], agent_steps=1000, dream_horizon=20, gamma=0.99),
        )
    }
    assert len(keys) == 5  # no two settings share a key
    iql = {"method": "IQL", "seed": 1, "iql": {"config": {"updates": 500}}}
    assert offline._run_key(iql, CALIBRATION) == ("IQL", 1, "u500")
    assert offline._expected_variant("IQL", offline.OfflineConfig(iql_updates=500), CALIBRATION) == "u500"
    bc = _dream_row("BC", 0, base, 0.0)
    assert bc["agent"]["steps"] == 0 and bc["agent"]["cloning"]["updates"] == base.clone_updates
    assert offline._run_key(bc, CALIBRATION)[2] == offline._expected_variant("BC", base, CALIBRATION)


def test_diagnostics_of_an_earlier_version_are_recomputed() -> None:
    cfg = offline.OfflineConfig(datasets=["x"], agent_steps=1000)
    row = _dream_row("dream+MOPO", 0, cfg, 1.0)
    assert offline._needs_diagnosis(row)  # never diagnosed
    row["dream_uncertainty"] = {"median": 0.1}  # version 1 counted the steps resets discard
    assert offline._needs_diagnosis(row)
    row["dream_uncertainty"]["version"] = offline.DIAGNOSTIC_VERSION
    assert not offline._needs_diagnosis(row)
    assert not offline._needs_diagnosis({"method": "IQL", "seed": 0})  # model-free: nothing dreamed


def test_safeguard_settings_enter_the_key_only_when_changed() -> None:
    def key(method: str, **settings) -> str:
        cfg = offline.OfflineConfig(datasets=["x"], agent_steps=1000, **settings)
        return offline._run_key(_dream_row(method, 0, cfg, 0.0), CALIBRATION)[2]

    assert key("dream+MOPO") == key("dream") == "s1000"  # keys of runs made before these settings stay valid
    assert key("dream+HALT") == "s1000"
    assert key("dream+MOPO", mopo_reward_at_p99=3.0) == "s1000_mopo3"
    assert key("dream+HALT", halt_threshold="p99") == "s1000_haltp99x1k100"
    assert key("dream+HALT", halt_threshold="p99", halt_scale=2.0) == "s1000_haltp99x2k100"
    assert key("dream", mopo_reward_at_p99=3.0, halt_threshold="p99") == "s1000"  # no safeguard, nothing to key
    assert key("dream+MOPO", warm_start=True, behaviour_penalty=5.0) == "s1000_bc10000_bp5"
    with pytest.raises(ValueError, match="Unknown methods"):
        offline.OfflineConfig(methods=["dream+CQL"])
    with pytest.raises(ValueError, match="behaviour_penalty needs warm_start"):
        offline.OfflineConfig(behaviour_penalty=1.0)
    with pytest.raises(ValueError, match=r"positive, finite mopo_reward_at_p99, got 0\.0"):
        offline.OfflineConfig(mopo_reward_at_p99=0.0)  # would share the key of scale 1


def test_p_values_print_so_they_agree_with_the_verdict() -> None:
    assert [offline._p_value(p) for p in (0.0497, 0.05, 0.128, 0.0004)] == ["0.0497", "0.05", "0.128", "< 0.001"]


def test_the_table_refuses_runs_scored_on_other_episode_counts() -> None:
    cfg = offline.OfflineConfig(datasets=["x"], agent_steps=1000)
    runs = [{**_dream_row("dream", seed, cfg, 1.0), "returns": [1.0] * n} for seed, n in ((0, 20), (1, 10))]
    variants = {m: offline._expected_variant(m, cfg, CALIBRATION) for m in offline.METHODS}
    assert offline._table_runs(runs[:1], CALIBRATION, variants, 20) == runs[:1]
    with pytest.raises(SystemExit, match=r"\('dream', 1, 10\).*other than 20 episodes"):
        offline._table_runs(runs, CALIBRATION, variants, 20)


def test_a_store_keeps_the_world_model_its_runs_dreamed_in(trained_ensemble_checkpoint: Path) -> None:
    steps = json.loads((trained_ensemble_checkpoint / "config.json").read_text())["step"]
    offline._require_matching_model(trained_ensemble_checkpoint, steps, has_runs=True)
    offline._require_matching_model(trained_ensemble_checkpoint, steps + 10, has_runs=False)  # trains on: fine
    asked = f"after {steps} updates and runs made with it; this run asks for {steps + 10}"
    with pytest.raises(SystemExit, match=asked):
        offline._require_matching_model(trained_ensemble_checkpoint, steps + 10, has_runs=True)
    with pytest.raises(SystemExit, match=f"after {steps} updates; this run asks for {steps - 10}"):
        offline._require_matching_model(trained_ensemble_checkpoint, steps - 10, has_runs=False)


def test_scores_are_normalised_between_random_and_expert(tmp_path: Path) -> None:
    cfg = offline.OfflineConfig(datasets=["x"], seeds=[0, 1], agent_steps=1000)
    runs = [_dream_row("dream", 0, cfg, 20.0), _dream_row("dream", 1, cfg, 60.0)]
    runs.append({"method": "IQL", "seed": 0, "return": 120.0, "iql": {"curve": [[1000, 70.0], [2000, 120.0]]}})
    dataset = {
        "name": "Task-tier",
        "steps": 100,
        "references": {"random": 20.0, "expert": 120.0, "source": "test"},
        "calibration": CALIBRATION,
        "runs": runs,
    }
    rows = {r["method"]: r for r in offline.summarise([dataset])}
    assert rows["dream"]["scores"] == pytest.approx([0.0, 40.0])
    assert rows["dream"]["score_mean"] == pytest.approx(20.0)
    assert rows["dream"]["score_std"] == pytest.approx(20.0 * 2**0.5)  # the sample std over seeds (ddof 1)
    assert rows["IQL"]["score_mean"] == pytest.approx(100.0) and rows["IQL"]["dream_return_mean"] is None
    path = tmp_path / "table.md"
    path.with_suffix(".notes.md").write_text("## Reading\nhand-written")
    offline.write_markdown(path, cfg, [dataset], list(rows.values()))
    text = path.read_text()
    assert "| Task-tier | 100 | — | 20.0 ± 28.3 | — | — | 100.0 ± 0.0 |" in text
    assert "1k: 50.0, 2k: 100.0" in text and text.rstrip().endswith("hand-written")
    assert "seeds dream [0, 1], IQL [0]" in text  # the seeds each method was run with, whatever the config asked
    assert offline._seeds(runs[:2]) == "[0, 1]"


def test_a_safeguard_beats_a_rival_only_beyond_the_spread_of_seeds() -> None:
    def row(method: str, scores: list[float]) -> dict:
        return {"dataset": "Task-tier", "method": method, "scores": scores, "score_mean": sum(scores) / len(scores)}

    mopo, dream = row("dream+MOPO", [40.0, 42.0, 44.0]), row("dream", [30.0, 32.0, 34.0])
    noisy_iql, tight_iql = row("IQL", [20.0, 40.0, 60.0]), row("IQL", [20.0, 22.0, 24.0])
    tests = {t["rival"]: t for t in offline.safeguard_tests([mopo, dream, noisy_iql])}
    # Welch: lead 10 over a standard error of sqrt(4/3 + 4/3); one-sided p with 4 degrees of freedom.
    assert tests["dream"]["lead"] == pytest.approx(10.0) and tests["dream"]["t"] == pytest.approx(10 / (8 / 3) ** 0.5)
    assert tests["dream"]["p"] < 0.01 < 0.3 < tests["IQL"]["p"]  # a 2-point lead over a 20-point spread is noise
    assert "| Task-tier | dream+MOPO | +10.0 (0.0018) | +2.0 (0.439) | no |" in offline._significance_lines(
        [mopo, dream, noisy_iql]
    )
    assert offline._significance_lines([mopo, dream, tight_iql])[-1].endswith("| yes |")
    assert offline.safeguard_tests([mopo, row("dream", [30.0])]) == []  # one seed has no spread to test against


def _store_runs(runs_path: Path, worker: int, count: int) -> None:
    for i in range(count):
        offline.update_runs(runs_path, lambda runs, i=i: runs.append({"worker": worker, "run": i}))


def test_two_processes_on_one_store_lose_no_run(tmp_path: Path) -> None:
    runs_path = tmp_path / "runs.json"
    ctx = multiprocessing.get_context("fork")  # the workers only touch JSON files
    workers = [ctx.Process(target=_store_runs, args=(runs_path, worker, 40)) for worker in (0, 1)]
    for process in workers:
        process.start()
    for process in workers:
        process.join()
        assert process.exitcode == 0
    runs = json.loads(runs_path.read_text())
    assert sorted((r["worker"], r["run"]) for r in runs) == [(w, i) for w in (0, 1) for i in range(40)]


def test_table_only_reads_back_every_stored_seed_and_runs_nothing(
    wm_dataset_path: Path, trained_ensemble_checkpoint: Path, tmp_path: Path
) -> None:
    cfg = offline.OfflineConfig(datasets=[str(wm_dataset_path)], out=str(tmp_path), agent_steps=1000, eval_episodes=2)
    with pytest.raises(SystemExit, match="No finished world model"):
        offline.run_dataset(str(wm_dataset_path), cfg, table_only=True)
    root = tmp_path / "InvertedPendulum-pendulum"
    assert not root.exists()  # a table is only read: no directory was made for it
    shutil.copytree(trained_ensemble_checkpoint, root / "world_model")
    (root / "world_model_seconds.json").write_text("1.0")
    other = offline.OfflineConfig(datasets=["x"], agent_steps=2000)
    runs = [_dream_row("dream", seed, cfg, 10.0 * seed) for seed in (0, 1, 5)] + [_dream_row("dream", 2, other, 0.0)]
    (root / "runs.json").write_text(json.dumps(runs))
    with pytest.raises(SystemExit, match="3 mlp heads, but this run asks for 5 mlp heads"):
        offline.run_dataset(str(wm_dataset_path), cfg, table_only=True)
    cfg = offline.OfflineConfig(**{**asdict(cfg), "ensemble": 3, "ensemble_heads": "linear"})
    with pytest.raises(SystemExit, match="3 mlp heads, but this run asks for 3 linear heads"):
        offline.run_dataset(str(wm_dataset_path), cfg, table_only=True)
    cfg = offline.OfflineConfig(**{**asdict(cfg), "ensemble_heads": "mlp"})
    result = offline.run_dataset(str(wm_dataset_path), cfg, table_only=True)
    assert [r["seed"] for r in result["runs"]] == [0, 1, 5]  # every stored seed of this variant, not cfg.seeds
    assert sorted(p.name for p in root.iterdir()) == ["runs.json", "world_model", "world_model_seconds.json"]
