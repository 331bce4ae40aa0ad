"""Transfer from dreams to PyBullet and to robots: reality-gap wrappers, the evaluation ladder and its reports.

World-model fidelity (``fidelity``), the physics-consistency audit of dreams (``audit``), interpenetration of
posed states (``interpenetration``, posing in ``posing``) and side-by-side videos (``video``) are imported from
their submodules. Submodules import PyBullet, torch and matplotlib only when used, so this package stays cheap
to import.
"""
