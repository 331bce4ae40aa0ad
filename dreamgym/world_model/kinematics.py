"""Forward kinematics of a planar walker in torch: where the lowest point of the robot is, for a batch of states.

A structured decoder uses it to keep dreamed bodies out of the floor: the torso is raised until no capsule
reaches below the ground (:meth:`FloorProjection.project`). Raising the torso is the smallest change that
makes the state possible, and it moves only the height, which is the dimension a model gets wrong by the
centimetres that put a foot through the floor. The chain comes from :func:`dreamgym.tasks.kinematics.planar_chain`.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["FloorProjection"]


class FloorProjection:
    """The lowest point of a planar chain of capsules, and observations projected above the floor.

    Not an ``nn.Module``: it has no parameters, and the decoder that holds it is an ``nn.Sequential`` whose
    forward pass would otherwise run it. Its constants follow the observations to their device.

    Args:
        chain: the dict :func:`~dreamgym.tasks.kinematics.planar_chain` returns (stored in checkpoints).
    """

    def __init__(self, chain: dict[str, Any]):
        self.height_dim, self.roll_dim, self.pitch_dim = chain["height_dim"], chain["roll_dim"], chain["pitch_dim"]
        self.initial_height = float(chain["initial_height"])
        self.substep = float(chain.get("substep", 0.0))
        joints, capsules = chain["joints"], chain["capsules"]
        self.parents = [int(j["parent"]) for j in joints]
        if any(parent >= i for i, parent in enumerate(self.parents)):
            raise ValueError(f"Expected every hinge after its parent in the chain, got parents {self.parents}.")
        self.dims = torch.tensor([j["dim"] for j in joints], dtype=torch.long)
        self.speed_dims = torch.tensor([j.get("speed_dim", j["dim"]) for j in joints], dtype=torch.long)
        self.mid, self.half_range, self.sign = (
            torch.tensor([float(j[k]) for j in joints]) for k in ("mid", "half_range", "sign")
        )
        self.anchors = [(float(j["anchor"][0]), float(j["anchor"][1])) for j in joints]
        self.reference = (float(chain["reference"][0]), float(chain["reference"][1]))
        self.capsule_joint = [int(c["joint"]) for c in capsules]
        self.ends = torch.tensor([[c["a"], c["b"]] for c in capsules])  # (C, 2 ends, xz)
        self.radius = torch.tensor([float(c["radius"]) for c in capsules])

    @staticmethod
    def _rotate(angle: torch.Tensor, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotation about +y by ``angle`` in the x-z plane."""
        cos, sin = angle.cos(), angle.sin()
        return cos * x + sin * z, cos * z - sin * x

    def lowest_point(self, obs: torch.Tensor) -> torch.Tensor:
        """(...,) height of the robot's lowest surface point above the floor for observations (..., d), posed as
        the simulator's contact solver last saw it (:class:`~dreamgym.transfer.posing.WalkerPose`'s
        ``match_torso_time``)."""
        batch, device = obs.shape[:-1], obs.device
        mid, half_range, sign = (t.to(device) for t in (self.mid, self.half_range, self.sign))
        ends, radius = self.ends.to(device), self.radius.to(device)
        angle = mid + half_range * obs[..., self.dims.to(device)]  # (..., J) hinge angles
        # At the torso's instant, one substep before the joints' (obs holds 0.1 rad/s speeds).
        angle = angle - self.substep * obs[..., self.speed_dims.to(device)] / 0.1
        # Each body's rest-frame transform (rotation phi, offset t: p -> R(phi) p + t), from the torso outwards; a
        # hinge rotates its subtree about its rest anchor c: p -> R(q) (p - c) + c.
        phi = [obs.new_zeros(batch)]
        tx, tz = [obs.new_zeros(batch)], [obs.new_zeros(batch)]
        for j, parent in enumerate(self.parents):
            q = sign[j] * angle[..., j]
            cx, cz = self.anchors[j]
            rx, rz = self._rotate(q, -cx, -cz)
            ox, oz = rx + cx, rz + cz  # this hinge's own offset
            p_phi, p_tx, p_tz = phi[parent + 1], tx[parent + 1], tz[parent + 1]
            wx, wz = self._rotate(p_phi, ox, oz)
            phi.append(p_phi + q)
            tx.append(wx + p_tx)
            tz.append(wz + p_tz)
        index = [j + 1 for j in self.capsule_joint]
        phi_c, tx_c, tz_c = (torch.stack([v[i] for i in index], -1)[..., None] for v in (phi, tx, tz))  # (..., C, 1)
        ex, ez = self._rotate(phi_c, ends[..., 0], ends[..., 1])  # (..., C, 2)
        ex, ez = ex + tx_c, ez + tz_c
        # The torso: pitch about the reference point, which sits at the observed height. A walker flipped onto
        # its back reads roll pi and the pitch reflected (see dreamgym.transfer.posing.WalkerPose).
        pitch = obs[..., self.pitch_dim]
        pitch = torch.where(obs[..., self.roll_dim].cos() >= 0, pitch, torch.pi - pitch)[..., None, None]
        _, wz = self._rotate(pitch, ex - self.reference[0], ez - self.reference[1])
        height = obs[..., self.height_dim] + self.initial_height
        return height + (wz - radius[:, None]).amin((-1, -2))

    def project(self, obs: torch.Tensor) -> torch.Tensor:
        """``obs`` with the torso raised where the robot would reach below the floor (out of place).

        The floor itself, not the depth Bullet's soft contacts let an impact sink to: a resting foot in the
        simulator's data sits on or above it (its contact flag is the previous step's), and a dream held at the
        deepest impact the data holds would sit at the simulator's extreme.
        """
        sink = (-self.lowest_point(obs)).clamp_min(0.0)
        obs = obs.clone()
        obs[..., self.height_dim] = obs[..., self.height_dim] + sink
        return obs
