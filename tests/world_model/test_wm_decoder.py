"""The structured decoder: every output kind holds its fact on a tiny model, the layout travels with the
checkpoint, and checkpoints written before layouts existed load as they were."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dreamgym.tasks import get_task
from dreamgym.world_model import DecoderLayout, WorldModel, load_checkpoint, make_config
from dreamgym.world_model.functional import symlog
from dreamgym.world_model.rssm import RSSMState

HOPPER = get_task("Hopper")


def _hopper_model(seed: int = 0, decoder: str = "structured") -> WorldModel:
    """A tiny untrained Hopper model whose joints are bounded as if the data reached 1.07 past each limit."""
    reach = np.zeros((2, 15))
    reach[:, list(HOPPER.layout.joint_dims)] = [[-1.07], [1.07]]
    cfg, _ = make_config("debug", 15, 3, decoder=decoder)
    torch.manual_seed(seed)
    model = WorldModel(cfg.with_task_layout(HOPPER.layout, reach))
    with torch.no_grad():
        model.decoder[-1].weight *= 10  # outputs far outside every bound, as an untrained or confused model's
    return model


def _wild_states(model: WorldModel, batch: int = 256) -> RSSMState:
    """Random latent states."""
    torch.manual_seed(1)
    cfg = model.cfg
    stoch = torch.nn.functional.one_hot(torch.randint(cfg.classes, (batch, cfg.stoch)), cfg.classes).float()
    return RSSMState(deter=torch.randn(batch, cfg.deter), stoch=stoch)


def test_layout_comes_from_the_task_and_real_data():
    layout = _hopper_model().cfg.obs_layout
    assert layout.angle_pairs == ((2, 1),) and layout.binary == (14,)
    assert [layout.low[d] for d in HOPPER.layout.joint_dims] == [-1.07] * 3  # the data's reach past [-1, 1]
    assert layout.low[0] == -1.25 and layout.high[0] == 5.0  # the floor under the torso, the env's clip
    assert layout.low[7] == pytest.approx(-np.pi / 2) and layout.high[3] == 5.0
    without_data = DecoderLayout.from_task(HOPPER.layout)
    assert [without_data.low[d] for d in HOPPER.layout.joint_dims] == [-5.0] * 3  # soft limits: only the clip


def test_decoded_observations_hold_every_fact():
    model = _hopper_model()
    with torch.no_grad():
        decoded = model.decode(_wild_states(model))
    obs = decoded.obs
    plain = _hopper_model(decoder="plain")
    with torch.no_grad():
        raw = plain.decode(_wild_states(plain)).obs
    assert (raw.abs() > 5).any() and not torch.allclose(raw[:, [1, 2]].norm(dim=-1), torch.ones(len(raw)))
    torch.testing.assert_close(obs[:, [2, 1]].norm(dim=-1), torch.ones(len(obs)))  # (cos, sin) on the unit circle
    layout = model.cfg.obs_layout
    low = torch.tensor([-np.inf if v is None else v for v in layout.low])
    high = torch.tensor([np.inf if v is None else v for v in layout.high])
    assert ((obs >= low) & (obs <= high)).all()
    assert set(obs[:, 14].unique().tolist()) <= {0.0, 1.0}  # contact made or not
    assert decoded.binary_prob.shape == (len(obs), 1)
    np.testing.assert_array_equal(obs[:, 14], (decoded.binary_prob[:, 0] > 0.5).float())


def test_decoded_walkers_stand_on_or_above_the_floor():
    from dreamgym.world_model.kinematics import FloorProjection

    reach = np.zeros((2, 15))
    cfg, _ = make_config("debug", 15, 3)
    chain = HOPPER.kinematic_chain()
    torch.manual_seed(0)
    model = WorldModel(cfg.with_task_layout(HOPPER.layout, reach, chain))
    with torch.no_grad():
        model.decoder[-1].weight *= 10
        obs = model.decode(_wild_states(model)).obs
    floor = FloorProjection(chain)
    assert (floor.lowest_point(obs) >= -1e-5).all()
    assert (floor.lowest_point(_hopper_model().decode(_wild_states(model)).obs.detach()) < -0.05).any()


def test_binary_draws_sample_the_kept_probability():
    model = _hopper_model()
    states = _wild_states(model, batch=4)
    draws = torch.linspace(0.01, 0.99, 99)
    with torch.no_grad():
        prob = model.decode(states).binary_prob[0, 0]
        sampled = model.decode(states.index((torch.zeros(99, dtype=torch.long),)), draws[:, None]).obs[:, 14]
    np.testing.assert_array_equal(sampled, (draws < prob).float())


def test_binary_dimensions_are_trained_by_log_likelihood():
    model = _hopper_model()
    raw = torch.zeros(3, 15)
    raw[:, 6] = np.log(2.0)  # symlog(1): the roll output holds the cosine of the planar angle, 1 upright
    raw.requires_grad_(True)
    obs = torch.zeros(3, 15)
    obs[:, 14] = torch.tensor([0.0, 1.0, 1.0])
    loss = model.decoder.loss(raw, obs)
    # symlog regression of 14 dims at zero error, plus log 2 for a contact predicted with probability one half
    torch.testing.assert_close(loss, torch.full((3,), np.log(2.0)))
    loss.sum().backward()
    torch.testing.assert_close(raw.grad[:, 14], torch.tensor([0.5, -0.5, -0.5]))


def test_a_layout_that_does_not_fit_is_refused():
    with pytest.raises(ValueError, match="does not fit observations of 5 dimensions"):
        make_config("debug", 5, 1)[0].with_task_layout(HOPPER.layout)
    push = get_task("PandaPush")
    layout = DecoderLayout.from_task(get_task("PandaReach").layout, table=push.decoder_table())  # the block's dims
    with pytest.raises(ValueError, match="does not fit observations of 12 dimensions"):
        dataclasses.replace(make_config("debug", 12, 3)[0], obs_layout=layout)
    with pytest.raises(ValueError, match="Unknown decoder 'fancy'"):
        make_config("debug", 5, 1, decoder="fancy")


def test_trained_checkpoint_records_the_layout(trained_checkpoint: Path, wm_sequences):
    checkpoint = load_checkpoint(trained_checkpoint)
    layout = checkpoint.model.cfg.obs_layout
    assert layout == DecoderLayout(**checkpoint.config["model"]["obs_layout"])
    assert layout.angle_pairs == ((2, 3),) and layout.binary == ()
    assert layout.low[0] == min(-1.0, float(wm_sequences.obs[:, 0].min()))  # the slider's limit or the data's reach


def test_a_checkpoint_from_before_layouts_loads_as_it_was(trained_checkpoint: Path, tmp_path: Path):
    old = tmp_path / "old"
    shutil.copytree(trained_checkpoint, old)
    config = json.loads((old / "config.json").read_text())
    del config["model"]["decoder"], config["model"]["obs_layout"]
    (old / "config.json").write_text(json.dumps(config))
    loaded, original = load_checkpoint(old), load_checkpoint(trained_checkpoint)
    assert loaded.model.cfg.decoder == "plain" and loaded.model.cfg.obs_layout is None
    states = original.model.observe(
        original.starts["obs"][:2], original.starts["prev_action"][:2], original.starts["is_first"][:2]
    )
    with torch.no_grad():
        raw = original.model.decoder(states.features)
        torch.testing.assert_close(loaded.model.decode(states).obs, torch.sign(raw) * torch.expm1(raw.abs()))


def test_a_checkpoint_from_before_integrals_decodes_positions_as_it_did(trained_checkpoint: Path, tmp_path: Path):
    old = tmp_path / "old"
    shutil.copytree(trained_checkpoint, old)
    config = json.loads((old / "config.json").read_text())
    assert config["model"]["obs_layout"]["integrals"] == [[0, 1, 0.0165]]  # the cart: x' = x + dt v'
    del config["model"]["obs_layout"]["integrals"]
    (old / "config.json").write_text(json.dumps(config))
    loaded = load_checkpoint(old)
    assert loaded.model.cfg.obs_layout.integrals == ()
    states = loaded.model.observe(
        loaded.starts["obs"][:2], loaded.starts["prev_action"][:2], loaded.starts["is_first"][:2]
    )
    previous = torch.full_like(loaded.starts["obs"][:2], 0.5)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.decode(states, previous=previous).obs, loaded.model.decode(states).obs)


def test_a_decoded_planar_walker_is_upright_or_on_its_back():
    model = _hopper_model()
    with torch.no_grad():  # roll decoded both ways: a wild model's raw roll lands on either side of pi/2
        model.decoder[-1].bias[6] = 0.0
        obs = model.decode(_wild_states(model, batch=512)).obs
    roll = obs[:, 6]
    flipped = roll.abs() > 1.0
    assert 0 < flipped.sum() < len(obs)
    torch.testing.assert_close(roll.abs(), torch.where(flipped, torch.pi, 0.0))
    torch.testing.assert_close(obs[:, 2], torch.where(flipped, -1.0, 1.0))  # the heading turns with the robot
    assert (obs[:, [1, 4]] == 0).all()


def test_a_planar_walker_turns_over_only_by_pitching_through_the_vertical():
    decoder = _hopper_model().decoder
    angle = torch.linspace(-3.1, 3.1, 125)  # the rotation about y, decoded from its (cos, sin) outputs
    raw = torch.zeros(len(angle), 15)
    raw[:, 6], raw[:, 7] = symlog(0.7 * angle.cos()), symlog(0.7 * angle.sin())  # any length: only the direction
    obs, _ = decoder.observation(raw)
    roll, pitch = obs[:, 6], obs[:, 7]
    flipped = angle.abs() > torch.pi / 2
    torch.testing.assert_close(roll, torch.where(flipped, torch.pi, 0.0))
    back = torch.remainder(torch.where(flipped, torch.pi - pitch, pitch) + torch.pi, 2 * torch.pi) - torch.pi
    torch.testing.assert_close(back, angle)  # the Euler pair reads the same angle back
    turn = torch.nonzero(flipped[1:] != flipped[:-1]).flatten()
    assert len(turn) == 2 and (pitch[turn].abs() > 1.5).all()  # over the vertical, nowhere else


def test_real_orientations_are_learned_as_the_planar_angle_and_read_back():
    decoder = _hopper_model().decoder
    obs = torch.zeros(6, 15)
    obs[:, 6] = torch.tensor([0.0, 0.0, np.pi, np.pi, -np.pi, 0.0])  # upright or on its back
    obs[:, 7] = torch.tensor([0.3, -1.2, 0.3, -1.5, 1.0, 1.57])
    obs[:, 2] = torch.where(obs[:, 6] == 0, 1.0, -1.0)
    targets = decoder._targets(obs)
    angle = torch.where(obs[:, 6] == 0, obs[:, 7], torch.pi - obs[:, 7])
    torch.testing.assert_close(targets[:, [6, 7]], torch.stack([angle.cos(), angle.sin()], -1))
    decoded, _ = decoder.observation(symlog(targets))
    torch.testing.assert_close(decoded[:, 7], obs[:, 7])
    torch.testing.assert_close(decoded[:, 6], obs[:, 6].abs())  # on its back: +pi, as the simulator mostly reads it


def test_a_checkpoint_from_before_the_planar_angle_snaps_its_roll_as_it_did():
    cfg = _hopper_model().cfg
    planar = {k: v for k, v in dataclasses.asdict(cfg.obs_layout)["planar"].items() if k != "pitch"}
    old = dataclasses.replace(cfg, obs_layout=DecoderLayout(**{**dataclasses.asdict(cfg.obs_layout), "planar": planar}))
    assert old.obs_layout.planar["pitch"] is None
    decoder = WorldModel(old).decoder
    raw = torch.zeros(3, 15)
    raw[:, 6] = symlog(torch.tensor([0.4, 2.0, -2.9]))  # the roll itself, as before
    raw[:, 7] = symlog(torch.tensor(0.25))
    obs, _ = decoder.observation(raw)
    torch.testing.assert_close(obs[:, 6], torch.tensor([0.0, np.pi, -np.pi]))
    torch.testing.assert_close(obs[:, 7], torch.full((3,), 0.25))


def _panda_model(task: str) -> WorldModel:
    """A tiny untrained model of a Panda task with the task's table, its outputs far from any real state."""
    spec = get_task(task)
    cfg, _ = make_config("debug", spec.obs_shape[0], 3)
    torch.manual_seed(0)
    model = WorldModel(cfg.with_task_layout(spec.layout, table=spec.decoder_table()))
    with torch.no_grad():
        model.decoder[-1].weight *= 3
    return model


def test_a_dreamed_block_lies_on_the_table_and_is_the_achieved_goal():
    from dreamgym.transfer.objects import object_violations

    spec = get_task("PandaPush")
    scene, model = spec.scene, _panda_model("PandaPush")
    with torch.no_grad():
        obs = model.decode(_wild_states(model, batch=2048)).obs
    block, gripper = obs[:, list(scene.object_dims)], obs[:, list(scene.gripper_dims)]
    over = (block[:, 0] > -0.85) & (block[:, 0] < 0.25) & (block[:, 1].abs() < 0.35)
    assert over.sum() > 100 and (~over).sum() > 100  # both cases are exercised
    assert (block[over, 2] >= 0.02).all() and (block[over, 2] <= 0.02 * 3**0.5 + 1e-6).all()  # face to corner
    gripper_over = (gripper[:, 0] > -0.85) & (gripper[:, 0] < 0.25) & (gripper[:, 1].abs() < 0.35)
    assert (gripper[gripper_over, 2] >= 0).all()
    np.testing.assert_array_equal(obs[:, list(scene.achieved_dims)], block)
    pairs = np.stack([obs.numpy(), obs.numpy()], axis=1)  # (N, 2, d): one step that stays in place
    flags = object_violations(scene, pairs, np.ones((len(obs), 1), dtype=bool))
    assert not flags["object_in_table"].any() and not flags["gripper_in_table"].any()
    raw = model.decoder(_wild_states(model, batch=2048).features)  # the same outputs, unprojected
    assert (torch.sign(raw[:, 14]) * torch.expm1(raw[:, 14].abs()) < 0).any()  # some were under the table


def test_a_dreamed_reach_goal_is_the_end_effector_and_old_layouts_have_no_table(trained_checkpoint: Path):
    spec = get_task("PandaReach")
    model = _panda_model("PandaReach")
    with torch.no_grad():
        obs = model.decode(_wild_states(model)).obs
    np.testing.assert_array_equal(obs[:, list(spec.scene.achieved_dims)], obs[:, list(spec.scene.gripper_dims)])
    layout = model.cfg.obs_layout
    assert dataclasses.replace(layout, table=json.loads(json.dumps(layout.table))) == layout  # JSON round trip
    assert load_checkpoint(trained_checkpoint).model.cfg.obs_layout.table is None  # InvertedPendulum: no table


def test_a_resting_block_out_of_the_grippers_reach_keeps_still():
    from dreamgym.transfer.objects import object_violations
    from dreamgym.world_model.tabletop import TabletopProjection

    scene, model = get_task("PandaPush").scene, _panda_model("PandaPush")
    states = _wild_states(model, batch=2048)
    following = RSSMState(deter=states.deter.roll(1, 0), stoch=states.stoch.roll(1, 0))
    with torch.no_grad():
        previous = model.decode(states).obs
        previous[:, list(scene.object_velocity_dims)] = 0.0  # every block at rest, half of them touched
        previous[:1024, list(scene.object_dims)] = previous[:1024, list(scene.gripper_dims)]
        obs = model.decode(following, previous=previous).obs
        free = model.decode(following).obs  # the same step with no observation before it
    gripper, block = list(scene.gripper_dims), list(scene.object_dims)
    reach = scene.contact_distance
    out_of_reach = ((previous[:, gripper] - previous[:, block]).norm(dim=-1) > reach) & (
        (obs[:, gripper] - previous[:, block]).norm(dim=-1) > reach
    )
    assert out_of_reach.sum() > 100 and (~out_of_reach).sum() > 100
    pose = [*block, *scene.object_rotation_dims]
    torch.testing.assert_close(obs[out_of_reach][:, pose], previous[out_of_reach][:, pose], rtol=0, atol=0)
    assert (obs[out_of_reach][:, [*scene.object_velocity_dims, *scene.object_spin_dims]] == 0).all()
    torch.testing.assert_close(obs[~out_of_reach], free[~out_of_reach])  # a block within reach moves as decoded
    assert not torch.equal(free[out_of_reach][:, block], previous[out_of_reach][:, block])  # the rule did the work
    steps = np.stack([previous.numpy(), obs.numpy()], axis=1)
    assert not object_violations(scene, steps, np.ones((len(obs), 1), dtype=bool))["object_untouched"].any()
    # A table stored before the rule (no reach recorded) leaves the block to the decoder.
    old = {key: value for key, value in model.cfg.obs_layout.table.items() if key != "contact_distance"}
    assert TabletopProjection(old).pose is None
