"""Robots behind one interface: the :class:`~dreamgym.robots.base.Robot` protocol, a safety layer, and a loopback
robot (a PyBullet server on a localhost socket) that exercises the real-robot path end to end without hardware.

Modules: ``base`` (protocol), ``remote`` (the socket client and wire protocol a robot server speaks),
``safety`` (clipping, rate limits, joint limits, emergency stop), ``loopback`` (the PyBullet-backed server).
"""
