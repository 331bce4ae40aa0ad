"""Transfer from dreams to PyBullet and to robots: reality-gap wrappers, the evaluation ladder and its reports.

Submodules import PyBullet, torch and matplotlib only when used, so this package stays cheap to import.
"""
