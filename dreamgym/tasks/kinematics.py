"""The planar walkers' geometry, read from the MJCF files PyBullet loads them from: capsules on a chain of hinges.

Whether a dreamed state puts a foot through the floor is a question of geometry: the torso's height and pitch
and the joint angles place every capsule of the robot. Hopper, Walker2D and HalfCheetah move in the x-z plane
with every hinge about the y axis, so their forward kinematics is a chain of 2-D rotations, cheap enough to
run inside a batched dream (:mod:`dreamgym.world_model.kinematics`). The chain is read once from the same MJCF
file PyBullet builds the robot from, and the joint limits, which turn the observation's scaled joint positions
into angles, from the simulator itself; ``tests/tasks/test_kinematics.py`` checks the lowest point it gives
against PyBullet's own distance to the floor in posed states.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from dreamgym.tasks.registry import TaskSpec, get_task

__all__ = ["PLANAR_WALKERS", "planar_chain"]

PLANAR_WALKERS = ("Hopper", "Walker2D", "HalfCheetah")


def _vector(element: ET.Element, name: str, default: str) -> np.ndarray:
    return np.array([float(v) for v in element.get(name, default).split()])


def _xz(point: np.ndarray) -> list[float]:
    return [float(point[0]), float(point[2])]


def _capsule(geom: ET.Element, origin: np.ndarray, degrees: bool) -> dict[str, Any]:
    """A capsule's end points (x, z) and radius; ``fromto``, or ``pos`` with an ``axisangle`` about y."""
    size = _vector(geom, "size", "0")
    if geom.get("fromto") is not None:
        ends = _vector(geom, "fromto", "")
        a, b = origin + ends[:3], origin + ends[3:]
    else:
        axis_angle = _vector(geom, "axisangle", "0 1 0 0")
        if abs(abs(axis_angle[1]) - 1.0) > 1e-9:
            raise ValueError(f"Expected capsule {geom.get('name')!r} rotated about y, got axisangle {axis_angle}.")
        angle = math.radians(axis_angle[3]) if degrees else axis_angle[3]
        angle *= np.sign(axis_angle[1])
        direction = np.array([math.sin(angle), 0.0, math.cos(angle)])  # the capsule's z axis, rotated about y
        centre = origin + _vector(geom, "pos", "0 0 0")
        a, b = centre - size[1] * direction, centre + size[1] * direction
    return {"a": _xz(a), "b": _xz(b), "radius": float(size[0])}


def planar_chain(task: str | TaskSpec) -> dict[str, Any]:
    """The kinematic chain of a planar walker, JSON-serialisable, for :class:`~dreamgym.world_model.kinematics.
    FloorProjection`.

    Coordinates are the MJCF's at the rest pose (all joints at 0), x and z only. Keys: ``height_dim``,
    ``roll_dim``, ``pitch_dim``, ``initial_height`` (the torso height at reset, which the height dimension is
    relative to), ``substep`` (the physics substep the observation's torso lags its joints by, see
    :class:`~dreamgym.transfer.posing.WalkerPose`), ``reference`` (x, z) of the torso point whose height the
    observation holds, ``joints`` (per hinge: observation ``dim`` and ``speed_dim``, angle ``mid`` and
    ``half_range`` of the scaled position, ``anchor``, ``sign`` of the y axis, index of the ``parent`` hinge or
    -1) and ``capsules`` (per capsule: the hinge it hangs on or -1 for the torso, end points ``a`` and ``b``,
    ``radius``).

    Raises:
        ValueError: the task is not a planar walker, or its MJCF holds a joint or geom this reader does not know.
    """
    spec = task if isinstance(task, TaskSpec) else get_task(task)
    if spec.name not in PLANAR_WALKERS:
        raise ValueError(f"Expected a planar walker ({', '.join(PLANAR_WALKERS)}), got task {spec.name!r}.")
    import pybullet_data

    env = spec.make_env()
    try:
        env.reset(seed=0)
        robot = env.unwrapped.robot
        limits = {j.joint_name: (j.lowerLimit, j.upperLimit) for j in robot.ordered_joints}
        order = [j.joint_name for j in robot.ordered_joints]
        initial_z = float(robot.initial_z)
        substep = float(env.unwrapped.scene.timestep)
        path = Path(pybullet_data.getDataPath()) / "mjcf" / robot.model_xml
    finally:
        env.close()
    root = ET.parse(path).getroot()
    compiler = root.find("compiler")
    degrees = compiler is None or compiler.get("angle", "degree") == "degree"
    local = compiler is not None and compiler.get("coordinate", "local") == "local"
    joints: list[dict[str, Any]] = []
    capsules: list[dict[str, Any]] = []
    torso = root.find("worldbody/body")

    def visit(body: ET.Element, origin: np.ndarray, parent: int) -> None:
        origin = origin + (_vector(body, "pos", "0 0 0") if local else 0.0)
        hinge = parent
        for joint in body.findall("joint"):
            name = joint.get("name")
            if name.startswith("ignore"):
                continue
            axis = _vector(joint, "axis", "0 0 1")
            if joint.get("type", "hinge") != "hinge" or abs(abs(axis[1]) - 1.0) > 1e-9:
                raise ValueError(f"Expected hinges about y in {path.name}, got joint {name!r} with axis {axis}.")
            low, high = limits[name]
            anchor = (origin if local else 0.0) + _vector(joint, "pos", "0 0 0")
            dim = spec.layout.joint_dims[order.index(name)]
            joints.append(
                {
                    "dim": dim,
                    "speed_dim": dim + 1,  # calc_state interleaves (position, 0.1 speed) per joint
                    "mid": (low + high) / 2,
                    "half_range": (high - low) / 2,
                    "anchor": _xz(anchor),
                    "sign": float(np.sign(axis[1])),
                    "parent": hinge,
                }
            )
            hinge = len(joints) - 1
        for geom in body.findall("geom"):
            if geom.get("type") != "capsule":
                raise ValueError(f"Expected capsules in {path.name}, got geom {geom.get('name')!r}.")
            capsules.append({"joint": hinge, **_capsule(geom, origin if local else np.zeros(3), degrees)})
        for child in body.findall("body"):
            visit(child, origin, hinge)

    visit(torso, np.zeros(3), -1)
    if sorted(j["dim"] for j in joints) != sorted(spec.layout.joint_dims):
        raise ValueError(f"Expected the hinges of {path.name} to be the task's joints, got {joints}.")
    torso_geom = torso.find("geom")
    first = _capsule(torso_geom, _vector(torso, "pos", "0 0 0") if local else np.zeros(3), degrees)
    roll_dim, pitch_dim = spec.layout.dims_of("orientation")
    return {
        "height_dim": spec.layout.height_dim,
        "roll_dim": roll_dim,
        "pitch_dim": pitch_dim,
        "initial_height": initial_z,
        "substep": substep,
        "reference": [(first["a"][0] + first["b"][0]) / 2, (first["a"][1] + first["b"][1]) / 2],
        "joints": joints,
        "capsules": capsules,
    }
