"""dreamgym: Gymnasium environments dreamed by learned world models.

Importing the package only registers environment ids; torch and PyBullet load when an env is made.
"""

from dreamgym.envs.registration import register_dream_envs
from dreamgym.tasks import TaskSpec, register_task
from dreamgym.tasks.pixels import register_pixel_envs

__version__ = "0.1.0"
__all__ = ["TaskSpec", "__version__", "register_task"]

register_dream_envs()
register_pixel_envs()
